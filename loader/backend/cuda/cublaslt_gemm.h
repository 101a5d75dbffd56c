// y[n, out] = x[n, in] * w[out, in]^T through cuBLASLt: BF16 operands, FP32
// accumulation (CUBLAS_COMPUTE_32F), BF16 or FP32 output.
//
//   ASSIGN_OR_RETURN(auto gemm, CublasLtGemm::Create(workspace, bytes));
//   RETURN_IF_ERROR(gemm->MatMul(x, w, n, in, out, y, /*float_out=*/false,
//                                stream));
//
// The algorithm for each (n, in, out, output type) is chosen once, by
// cuBLASLt's heuristic, and kept: the same shape always runs the same
// kernel, so results are deterministic (DF11 and BF16 weights give the same
// bits). A different row count may pick another kernel and so round
// differently: unlike the CPU backend, the CUDA backend is not batch
// invariant. The workspace is fixed at creation, so calls can be captured
// in a CUDA graph. Not thread-safe.
#ifndef DF11_LOADER_BACKEND_CUDA_CUBLASLT_GEMM_H_
#define DF11_LOADER_BACKEND_CUDA_CUBLASLT_GEMM_H_

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "absl/status/statusor.h"

namespace df11 {

class CublasLtGemm {
 public:
  // `workspace` (device, `bytes`) stays owned by the caller and must
  // outlive this object.
  static absl::StatusOr<std::unique_ptr<CublasLtGemm>> Create(void* workspace,
                                                              size_t bytes);
  ~CublasLtGemm();

  absl::Status MatMul(const uint16_t* x, const uint16_t* w, int64_t n,
                      int64_t in, int64_t out, void* y, bool float_out,
                      cudaStream_t stream);

 private:
  struct Plan;
  using Key = std::tuple<int64_t, int64_t, int64_t, bool>;

  CublasLtGemm() = default;
  absl::StatusOr<Plan*> GetPlan(int64_t n, int64_t in, int64_t out,
                                bool float_out);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_CUBLASLT_GEMM_H_
