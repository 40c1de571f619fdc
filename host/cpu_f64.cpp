// host/cpu_f64.cpp: the CPU reference instantiated for double storage (one file per type keeps
// each translation unit small for a 2-core build).
#include "host/cpu.h"

namespace actk {
namespace detail {
template void cpu_elementwise_typed<double>(const ElementwiseCall&);
}  // namespace detail
}  // namespace actk
