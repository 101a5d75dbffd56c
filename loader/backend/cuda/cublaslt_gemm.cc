#include "loader/backend/cuda/cublaslt_gemm.h"

#include "absl/strings/str_cat.h"
#include "loader/backend/cuda/fallback_gemm.h"
#include "loader/base/status_macros.h"
#include "loader/gpu/cublas_status.h"

namespace df11 {

struct CublasLtGemm::Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo;
  bool has_algo = false;
  ~Plan() {
    if (c != nullptr) cublasLtMatrixLayoutDestroy(c);
    if (b != nullptr) cublasLtMatrixLayoutDestroy(b);
    if (a != nullptr) cublasLtMatrixLayoutDestroy(a);
    if (op != nullptr) cublasLtMatmulDescDestroy(op);
  }
};

absl::StatusOr<std::unique_ptr<CublasLtGemm>> CublasLtGemm::Create(
    void* workspace, size_t bytes) {
  std::unique_ptr<CublasLtGemm> g(new CublasLtGemm());
  RETURN_IF_ERROR(CUBLAS_STATUS(cublasLtCreate(&g->handle_)));
  g->workspace_ = workspace;
  g->workspace_bytes_ = bytes;
  return g;
}

CublasLtGemm::~CublasLtGemm() {
  plans_.clear();
  if (handle_ != nullptr) cublasLtDestroy(handle_);
}

absl::StatusOr<CublasLtGemm::Plan*> CublasLtGemm::GetPlan(int64_t n, int64_t in,
                                                          int64_t out,
                                                          bool float_out) {
  const Key key{n, in, out, float_out};
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second.get();
  auto plan = std::make_unique<Plan>();
  // Column-major view: Y^T [out, n] = W [in, out]^T (op T) * X^T [in, n].
  RETURN_IF_ERROR(CUBLAS_STATUS(
      cublasLtMatmulDescCreate(&plan->op, CUBLAS_COMPUTE_32F, CUDA_R_32F)));
  const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  RETURN_IF_ERROR(CUBLAS_STATUS(cublasLtMatmulDescSetAttribute(
      plan->op, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa))));
  RETURN_IF_ERROR(CUBLAS_STATUS(cublasLtMatmulDescSetAttribute(
      plan->op, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof(transb))));
  RETURN_IF_ERROR(CUBLAS_STATUS(
      cublasLtMatrixLayoutCreate(&plan->a, CUDA_R_16BF, in, out, in)));
  RETURN_IF_ERROR(CUBLAS_STATUS(
      cublasLtMatrixLayoutCreate(&plan->b, CUDA_R_16BF, in, n, in)));
  RETURN_IF_ERROR(CUBLAS_STATUS(cublasLtMatrixLayoutCreate(
      &plan->c, float_out ? CUDA_R_32F : CUDA_R_16BF, out, n, out)));
  cublasLtMatmulPreference_t pref = nullptr;
  RETURN_IF_ERROR(CUBLAS_STATUS(cublasLtMatmulPreferenceCreate(&pref)));
  const uint64_t ws = workspace_bytes_;
  cublasLtMatmulHeuristicResult_t result = {};
  int found = 0;
  absl::Status s = CUBLAS_STATUS(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  if (s.ok()) {
    const cublasStatus_t h = cublasLtMatmulAlgoGetHeuristic(
        handle_, plan->op, plan->a, plan->b, plan->c, plan->c, pref, 1, &result,
        &found);
    if (h == CUBLAS_STATUS_NOT_SUPPORTED) {
      found = 0;
    } else {
      s = CUBLAS_STATUS(h);
    }
  }
  cublasLtMatmulPreferenceDestroy(pref);
  RETURN_IF_ERROR(s);
  // No algorithm (e.g. a leading dimension that is not a multiple of 8):
  // the plan stays without one and MatMul takes the fallback kernel.
  plan->has_algo = found > 0;
  plan->algo = result.algo;
  Plan* p = plan.get();
  plans_.emplace(key, std::move(plan));
  return p;
}

absl::Status CublasLtGemm::MatMul(const uint16_t* x, const uint16_t* w,
                                  int64_t n, int64_t in, int64_t out, void* y,
                                  bool float_out, cudaStream_t stream) {
  if (n < 0 || in < 1 || out < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("MatMul: bad sizes n ", n, ", in ", in, ", out ", out));
  }
  if (n == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(Plan * plan, GetPlan(n, in, out, float_out));
  if (!plan->has_algo) {
    return LaunchFallbackGemm(x, w, n, in, out, y, float_out, stream);
  }
  const float alpha = 1.0f, beta = 0.0f;
  return CUBLAS_STATUS(cublasLtMatmul(
      handle_, plan->op, &alpha, w, plan->a, x, plan->b, &beta, y, plan->c, y,
      plan->c, &plan->algo, workspace_, workspace_bytes_, stream));
}

}  // namespace df11
