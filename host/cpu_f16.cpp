// host/cpu_f16.cpp: the CPU reference instantiated for float16 storage (one file per type keeps
// each translation unit small for a 2-core build).
#include "host/cpu.h"

namespace actk {
namespace detail {
template void cpu_elementwise_typed<float16>(const ElementwiseCall&);
}  // namespace detail
}  // namespace actk
