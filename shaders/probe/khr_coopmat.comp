#version 450
// Configure-time probe: does this glslang compile GL_KHR_cooperative_matrix?
// (glslang 12, Debian 12, does not.)
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
layout(local_size_x = 32) in;
void main()
{
	coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> acc =
		coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>(0.0);
	acc = acc + acc;
}
