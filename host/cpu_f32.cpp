// host/cpu_f32.cpp: the CPU reference instantiated for float storage (one file per type keeps
// each translation unit small for a 2-core build).
#include "host/cpu.h"

namespace actk {
namespace detail {
template void cpu_elementwise_typed<float>(const ElementwiseCall&);
}  // namespace detail
}  // namespace actk
