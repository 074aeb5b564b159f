// Macro-heavy declarations in the style of ATen's generated headers.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/macros/Export.h>

#define DECLARE_KERNEL(name) void name##_kernel(const at::Tensor& self)

namespace at {
namespace native {

TORCH_API at::Tensor add(const at::Tensor& self, const at::Tensor& other);

DECLARE_DISPATCH(add_fn, add_stub)
DECLARE_DISPATCH(sub_fn, sub_stub)

struct TORCH_API Registry {
  C10_DISABLE_COPY_AND_ASSIGN(Registry);
  static Registry& get();
  AT_FORALL_SCALAR_TYPES(DEFINE_ENTRY)
  int size() const;
};

TORCH_ARG(int64_t, batch_size) = 1;

C10_API bool is_enabled();

}  // namespace native
}  // namespace at
