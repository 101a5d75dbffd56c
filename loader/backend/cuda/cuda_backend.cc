#include "loader/backend/cuda/cuda_backend.h"

#include <mpi.h>
#include <nccl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loader/backend/cuda/paged_attention.h"
#include "loader/dist/mpi_status.h"
#ifdef DF11_HAVE_FLASHINFER
#include "loader/backend/cuda/flashinfer_decode.h"
#include "loader/backend/cuda/flashinfer_prefill.h"
#endif
#include "loader/backend/cuda/row_ops.h"
#include "loader/backend/cuda/small_gemv.h"
#include "loader/backend/step_batch_check.h"
#include "loader/base/status_macros.h"
#include "loader/gpu/cuda_status.h"
#include "loader/gpu/nccl_status.h"

namespace df11 {
namespace {

// Steps of at most this many rows are captured as CUDA graphs.
constexpr int64_t kMaxGraphRows = 256;
constexpr size_t kMaxGraphs = 64;
constexpr uint64_t kGemmWorkspaceBytes = 32ull << 20;
constexpr uint64_t kAlign = 256;

uint64_t AlignUp(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

uint16_t* U16(void* p) { return static_cast<uint16_t*>(p); }
const uint16_t* U16(const void* p) { return static_cast<const uint16_t*>(p); }

// The NCCL id of rank 0, or its failure, for every rank.
struct NcclHello {
  int ok = 0;
  ncclUniqueId id;
};

}  // namespace

int VisibleCudaDevices() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

absl::StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create(
    const WorldConfig& world, const CudaBackendOptions& options) {
  std::unique_ptr<CudaBackend> b(new CudaBackend(world, options));
  const uint64_t cap = static_cast<uint64_t>(options.gpu_memory_gb * 1e9);
  ASSIGN_OR_RETURN(b->memory_, DeviceMemory::Create(world.device, cap));
  // The compute stream outranks the weight store's decode stream: as decode
  // blocks retire, the block scheduler starts the pending compute kernels
  // first, so layer L's products run beside layer L + 1's decode instead of
  // after it (docs/cuda_backend.md, Streams and events).
  int least = 0, greatest = 0;
  RETURN_IF_ERROR(
      CUDA_STATUS(cudaDeviceGetStreamPriorityRange(&least, &greatest)));
  RETURN_IF_ERROR(CUDA_STATUS(cudaStreamCreateWithPriority(
      &b->stream_, cudaStreamNonBlocking,
      options.prioritize_compute ? greatest : least)));
  ASSIGN_OR_RETURN(
      b->gemm_workspace_,
      b->memory_->Allocate(kGemmWorkspaceBytes, DeviceUse::kWorkspace));
  ASSIGN_OR_RETURN(b->gemm_, CublasLtGemm::Create(b->gemm_workspace_.data(),
                                                  kGemmWorkspaceBytes));
  if (world.size > 1) {
    // NVLink multicast stays off: the GPU machines require it.
    setenv("NCCL_NVLS_ENABLE", "0", 1);
    NcclHello hello;
    absl::Status made;
    if (world.rank == 0) {
      made = NCCL_STATUS(ncclGetUniqueId(&hello.id));
      hello.ok = made.ok();
    }
    RETURN_IF_ERROR(MPI_STATUS(
        MPI_Bcast(&hello, sizeof(hello), MPI_BYTE, 0, MPI_COMM_WORLD)));
    if (!hello.ok) {
      return made.ok() ? absl::InternalError("rank 0 could not make an NCCL id")
                       : made;
    }
    RETURN_IF_ERROR(NCCL_STATUS(
        ncclCommInitRank(&b->nccl_, world.size, hello.id, world.rank)));
  }
  return b;
}

CudaBackend::~CudaBackend() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
  if (nccl_ != nullptr) ncclCommDestroy(nccl_);
  gemm_.reset();
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void CudaBackend::Fail(absl::Status status) {
  if (status_.ok() && !status.ok()) status_ = std::move(status);
}

CudaBackend::Meta CudaBackend::Views(uint8_t* base) const {
  const uint64_t* o = meta_offsets_;
  return {reinterpret_cast<int32_t*>(base + o[0]),
          reinterpret_cast<int32_t*>(base + o[1]),
          reinterpret_cast<int32_t*>(base + o[2]),
          reinterpret_cast<int32_t*>(base + o[3]),
          reinterpret_cast<int32_t*>(base + o[4]),
          reinterpret_cast<int32_t*>(base + o[5]),
          reinterpret_cast<int32_t*>(base + o[6]),
          reinterpret_cast<int32_t*>(base + o[7]),
          reinterpret_cast<DeviceSampleRequest*>(base + o[8]),
          reinterpret_cast<int32_t*>(base + o[9]),
          reinterpret_cast<int32_t*>(base + o[10]),
          reinterpret_cast<int32_t*>(base + o[11]),
          base + o[12]};
}

bool CudaBackend::FlashInferHeads() const {
  return model_.q_heads == model_.kv_heads * model_.group &&
         model_.q_head_offset == model_.kv_head_offset * model_.group;
}

uint16_t* CudaBackend::KvPool(bool v, int64_t layer) const {
  return kv_[v ? 1 : 0].as<uint16_t>() +
         layer * layer_slots_ * model_.kv_width();
}

absl::Status CudaBackend::Prepare(const BackendModel& model,
                                  const BackendLimits& limits) {
  if (prepared_) return absl::FailedPreconditionError("Prepare called twice");
  if (model.head_dim % 2 != 0 || model.head_dim > 256 ||
      static_cast<int64_t>(model.rope_inv_freq.size()) != model.head_dim / 2 ||
      limits.max_batch_tokens < 1 || limits.max_logit_rows < 1 ||
      limits.max_batch_sequences < 1 || limits.kv_blocks < 1 ||
      limits.kv_block_tokens < 1 || limits.max_context < 1 ||
      limits.max_batch_tokens > 65535) {
    return absl::InvalidArgumentError(
        "cuda backend: head_dim must be even and at most 256 with head_dim/2 "
        "RoPE frequencies, every limit positive, max_batch_tokens at most "
        "65535");
  }
  int epl = 1;
  while (epl * 32 < model.head_dim) epl *= 2;
  if (model.head_dim % epl != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cuda backend: head_dim ", model.head_dim, " is not supported"));
  }
  model_ = model;
  limits_ = limits;
  const int64_t bs = limits.kv_block_tokens;
  // One spare block past the pool takes the k and v of padding rows.
  layer_slots_ = (limits.kv_blocks + 1) * bs;
  const uint64_t kv_bytes =
      static_cast<uint64_t>(model.layers) * layer_slots_ * model.kv_width() * 2;
  for (Buffer& pool : kv_) {
    ASSIGN_OR_RETURN(pool, memory_->Allocate(kv_bytes, DeviceUse::kKvCache));
  }

  // RoPE table: FP32 angles and std::cos/sin, exactly as the CPU backend.
  const int64_t half = model.head_dim / 2;
  std::vector<float> cos(limits.max_context * half), sin(cos.size());
  for (int64_t pos = 0; pos < limits.max_context; ++pos) {
    for (int64_t j = 0; j < half; ++j) {
      const float angle = static_cast<float>(pos) * model.rope_inv_freq[j];
      cos[pos * half + j] = std::cos(angle);
      sin[pos * half + j] = std::sin(angle);
    }
  }
  ASSIGN_OR_RETURN(rope_cos_, memory_->Allocate(cos.size() * sizeof(float),
                                                DeviceUse::kWorkspace));
  ASSIGN_OR_RETURN(rope_sin_, memory_->Allocate(sin.size() * sizeof(float),
                                                DeviceUse::kWorkspace));
  RETURN_IF_ERROR(
      CopyFromHost(cos.data(), cos.size() * sizeof(float), rope_cos_.data()));
  RETURN_IF_ERROR(
      CopyFromHost(sin.data(), sin.size() * sizeof(float), rope_sin_.data()));

  // Step metadata: fixed regions, so captured graphs keep their addresses.
  // Padding rows of a decode step are sequences of their own (one spare
  // block each), so there are at most max(sequences, rows) sequences.
  const uint64_t rows = limits.max_batch_tokens;
  const uint64_t seqs =
      std::max<uint64_t>(limits.max_batch_sequences, limits.max_batch_tokens);
#ifdef DF11_HAVE_FLASHINFER
  const uint64_t work = static_cast<uint64_t>(FlashInferPrefillMaxWork(
      limits.max_batch_tokens, limits.max_batch_tokens, model.group));
#else
  const uint64_t work = 0;
#endif
  const uint64_t sizes[kMetaRegions] = {rows * 4,
                                        rows * 4,
                                        rows * 4,
                                        rows * 4,
                                        rows * 4,
                                        (seqs + 2) * 4,
                                        (limits.kv_blocks + rows + 1) * 4,
                                        (seqs + 1) * 4,
                                        rows * sizeof(DeviceSampleRequest),
                                        (seqs + 1) * 4,
                                        work * 4,
                                        work * 4,
                                        work};
  uint64_t end = 0;
  for (int i = 0; i < kMetaRegions; ++i) {
    meta_offsets_[i] = end;
    end = AlignUp(end + sizes[i], kAlign);
  }
  meta_offsets_[kMetaRegions] = end;
  {
    flashinfer_zeros_ = static_cast<int64_t>(std::max(rows, work));
    std::vector<int32_t> index(rows + flashinfer_zeros_ + 1, 0);
    for (uint64_t r = 0; r < rows; ++r) index[r] = static_cast<int32_t>(r);
    index.back() = static_cast<int32_t>(limits.max_context);
    ASSIGN_OR_RETURN(
        flashinfer_index_,
        memory_->Allocate(index.size() * 4, DeviceUse::kWorkspace));
    RETURN_IF_ERROR(
        CopyFromHost(index.data(), index.size() * 4, flashinfer_index_.data()));
  }
  ASSIGN_OR_RETURN(meta_device_, memory_->Allocate(end, DeviceUse::kWorkspace));
  ASSIGN_OR_RETURN(meta_host_, memory_->AllocatePinned(end));

  // Sampling.
  const int64_t lr = limits.max_logit_rows;
  const int64_t vocab = model.vocab_size;
  ASSIGN_OR_RETURN(
      logit_rows_f32_,
      memory_->Allocate(lr * vocab * sizeof(float), DeviceUse::kWorkspace));
  size_t temp = 0;
  RETURN_IF_ERROR(SortTempBytes(lr, vocab, &temp));
  const uint64_t sort_sizes[5] = {lr * vocab * 4ull, lr * vocab * 4ull,
                                  lr * vocab * 4ull, (lr + 1) * 4ull, temp};
  for (int i = 0; i < 5; ++i) {
    ASSIGN_OR_RETURN(sort_buffers_[i],
                     memory_->Allocate(sort_sizes[i], DeviceUse::kWorkspace));
  }
  sort_.sorted_logits = sort_buffers_[0].as<float>();
  sort_.sorted_ids = sort_buffers_[1].as<int32_t>();
  sort_.ids = sort_buffers_[2].as<int32_t>();
  sort_.offsets = sort_buffers_[3].as<int32_t>();
  sort_.temp = sort_buffers_[4].data();
  sort_.temp_bytes = temp;
  sort_.max_rows = lr;
  RETURN_IF_ERROR(LaunchInitSortIndex(sort_buffers_[2].as<int32_t>(),
                                      sort_buffers_[3].as<int32_t>(), lr, vocab,
                                      stream_));
  ASSIGN_OR_RETURN(
      sampled_device_,
      memory_->Allocate(rows * sizeof(DeviceSampled), DeviceUse::kWorkspace));
  ASSIGN_OR_RETURN(sampled_host_,
                   memory_->AllocatePinned(rows * sizeof(DeviceSampled)));
  RETURN_IF_ERROR(CUDA_STATUS(cudaStreamSynchronize(stream_)));
  prepared_ = true;
  return absl::OkStatus();
}

BackendMemory CudaBackend::memory() const {
  BackendMemory m;
  m.kv_cache = memory_->in_use(DeviceUse::kKvCache);
  m.workspace = memory_->in_use(DeviceUse::kWorkspace);
  return m;
}

absl::StatusOr<Buffer> CudaBackend::Allocate(size_t bytes) {
  return memory_->Allocate(bytes, DeviceUse::kActivations);
}

absl::Status CudaBackend::CopyFromHost(const void* host, size_t bytes,
                                       void* dst) {
  RETURN_IF_ERROR(CUDA_STATUS(
      cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream_)));
  return CUDA_STATUS(cudaStreamSynchronize(stream_));
}

absl::Status CudaBackend::CopyToHost(const void* src, size_t bytes,
                                     void* host) {
  RETURN_IF_ERROR(CUDA_STATUS(
      cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, stream_)));
  return CUDA_STATUS(cudaStreamSynchronize(stream_));
}

void CudaBackend::Copy(const void* src, size_t bytes, void* dst) {
  Fail(CUDA_STATUS(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_)));
}

absl::StatusOr<std::unique_ptr<WeightStore>> CudaBackend::LoadWeights(
    const WeightSource& source, const std::vector<WeightGroup>& groups) {
  ASSIGN_OR_RETURN(std::unique_ptr<CudaWeightStore> store,
                   CudaWeightStore::Load(
                       source, groups, options_.residency, memory_, stream_,
                       [this](absl::Status s) { Fail(std::move(s)); }));
  store_ = store.get();
  // The embedding decodes only the rows the step's tokens select.
  if (prepared_) {
    store_->SetLookup(Views(meta_device_.as<uint8_t>()).tokens,
                      model_.vocab_offset);
  }
  if (options_.print_memory_plan) {
    const WeightStoreMemory w = store->memory();
    const WeightLoadStats& l = store->load_stats();
    std::fprintf(
        stderr,
        "cuda rank %d (device %d): weights %s, %.4f GB stored for %.4f GB "
        "BF16, loaded in %.2f s (%.2f GB/s)\n%s",
        world_.rank, world_.device, WeightResidencyName(options_.residency),
        w.resident / 1e9, w.original / 1e9, l.seconds,
        l.seconds > 0 ? l.bytes / 1e9 / l.seconds : 0.0,
        memory_->Plan().c_str());
  }
  return std::unique_ptr<WeightStore>(std::move(store));
}

StepShape CudaBackend::BeginStep(const StepBatch& batch) {
  status_ = absl::OkStatus();
  needs_sort_ = false;
  any_sample_ = false;
  decode_step_ = false;
  prefill_work_ = 0;
  real_logit_rows_ = static_cast<int64_t>(batch.logit_rows.size());
  StepShape shape{batch.rows(), real_logit_rows_};
  if (store_ != nullptr) store_->set_lookup_rows(0);  // until the upload
  if (!prepared_) {
    Fail(absl::FailedPreconditionError("BeginStep before Prepare"));
    return shape;
  }
  absl::Status check = CheckStepBatch(batch, limits_);
  if (check.ok() &&
      static_cast<int64_t>(batch.kv_indices.size()) > limits_.kv_blocks) {
    check = absl::InvalidArgumentError(
        "step batch: more block ids than blocks in the pool");
  }
  if (!check.ok()) {
    Fail(check);
    return shape;
  }
  const int64_t rows = batch.rows();
  const int64_t seqs = batch.sequences();
  const int64_t logits = real_logit_rows_;
  if (options_.cuda_graphs && rows == seqs && rows <= kMaxGraphRows) {
    // A decode step: pad to a bucket so that few graphs serve every size.
    int64_t bucket = 1;
    while (bucket < rows) bucket *= 2;
    shape.rows = std::min(bucket, limits_.max_batch_tokens);
    int64_t logit_bucket = logits > 0 ? 1 : 0;
    while (logit_bucket < logits) logit_bucket *= 2;
    shape.logit_rows = std::min(logit_bucket, shape.rows);
  }
  const Meta h = Views(meta_host_.as<uint8_t>());
  const int32_t spare_block = static_cast<int32_t>(limits_.kv_blocks);
  const int32_t spare_slot =
      static_cast<int32_t>(limits_.kv_blocks * limits_.kv_block_tokens);
  for (int64_t r = 0; r < shape.rows; ++r) {
    const bool real = r < rows;
    h.tokens[r] = real ? batch.tokens[r] : 0;
    h.positions[r] = real ? batch.positions[r] : 0;
    h.kv_slots[r] = real ? batch.kv_slots[r] : spare_slot;
  }
  for (int64_t s = 0; s < seqs; ++s) {
    for (int32_t r = batch.qo_indptr[s]; r < batch.qo_indptr[s + 1]; ++r) {
      h.row_seq[r] = static_cast<int32_t>(s);
    }
  }
  // Each padding row is a sequence of its own: one token, at position 0 of
  // the spare block.
  const int64_t pad = shape.rows - rows;
  std::copy(batch.kv_indptr.begin(), batch.kv_indptr.end(), h.kv_indptr);
  std::copy(batch.kv_indices.begin(), batch.kv_indices.end(), h.kv_indices);
  std::copy(batch.kv_last_page_len.begin(), batch.kv_last_page_len.end(),
            h.kv_last_page_len);
  const int64_t indices = static_cast<int64_t>(batch.kv_indices.size());
  for (int64_t j = 0; j < pad; ++j) {
    h.row_seq[rows + j] = static_cast<int32_t>(seqs + j);
    h.kv_indptr[seqs + j + 1] = static_cast<int32_t>(indices + j + 1);
    h.kv_indices[indices + j] = spare_block;
    h.kv_last_page_len[seqs + j] = 1;
  }
  decode_step_ = rows == seqs;
  for (int64_t s = 0; s < seqs && decode_step_; ++s) {
    const int64_t length =
        (int64_t{batch.kv_indptr[s + 1]} - batch.kv_indptr[s] - 1) *
            limits_.kv_block_tokens +
        batch.kv_last_page_len[s];
    decode_step_ = batch.positions[s] == length - 1;
  }
#ifdef DF11_HAVE_FLASHINFER
  if (!decode_step_ && options_.flashinfer_prefill && FlashInferHeads() &&
      FlashInferPrefillSupports(model_.head_dim)) {
    // The work list for the real sequences, then invalid entries up to a
    // length fixed by the row count (a captured graph keeps its grid).
    std::copy(batch.qo_indptr.begin(), batch.qo_indptr.end(), h.qo_indptr);
    for (int64_t j = 0; j < pad; ++j) {
      h.qo_indptr[seqs + j + 1] = static_cast<int32_t>(rows + j + 1);
    }
    // The kernel takes the batch as shape.rows sequences (fixed per graph)
    // and bounds its page reads by kv_indptr[shape.rows]: sequences past the
    // real ones are empty.
    for (int64_t k = seqs + pad + 1; k <= shape.rows; ++k) {
      h.kv_indptr[k] = h.kv_indptr[seqs + pad];
    }
    const int64_t used =
        FlashInferPrefillWork(h.qo_indptr, seqs + pad, model_.group,
                              h.prefill_request, h.prefill_tile);
    prefill_work_ =
        FlashInferPrefillMaxWork(shape.rows, shape.rows, model_.group);
    for (int64_t i = 0; i < prefill_work_; ++i) {
      h.prefill_valid[i] = i < used ? 1 : 0;
      if (i >= used) h.prefill_request[i] = h.prefill_tile[i] = 0;
    }
  }
#endif
  for (int64_t i = 0; i < shape.logit_rows; ++i) {
    // Padding logit rows read their own row (>= i: GatherRows may run in
    // place) and sample nothing.
    h.logit_rows[i] =
        i < logits ? batch.logit_rows[i] : static_cast<int32_t>(i);
    DeviceSampleRequest d;
    if (i < logits) {
      const SampleRequest& s = batch.sampling[i];
      d.seed = s.params.seed;
      d.stream = s.stream;
      d.position = s.position;
      d.temperature = s.params.temperature;
      d.top_p = s.params.top_p;
      d.top_k = s.params.top_k;
      d.logprobs = s.logprobs;
      d.sample = s.sample ? 1 : 0;
      any_sample_ |= s.sample;
      needs_sort_ |= s.sample && (s.params.temperature > 0 || s.logprobs > 0);
    }
    h.requests[i] = d;
  }
  const Meta d = Views(meta_device_.as<uint8_t>());
  const auto upload = [&](void* dst, const void* src, uint64_t bytes) {
    if (bytes > 0) {
      Fail(CUDA_STATUS(
          cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_)));
    }
  };
  upload(d.tokens, h.tokens, shape.rows * 4);
  upload(d.positions, h.positions, shape.rows * 4);
  upload(d.kv_slots, h.kv_slots, shape.rows * 4);
  upload(d.row_seq, h.row_seq, shape.rows * 4);
  upload(d.logit_rows, h.logit_rows, shape.logit_rows * 4);
  const int64_t kv_seqs =
      prefill_work_ > 0 ? std::max(seqs + pad, shape.rows) : seqs + pad;
  upload(d.kv_indptr, h.kv_indptr, (kv_seqs + 1) * 4);
  upload(d.kv_indices, h.kv_indices, (batch.kv_indices.size() + pad) * 4);
  upload(d.kv_last_page_len, h.kv_last_page_len, (seqs + pad) * 4);
  upload(d.requests, h.requests,
         shape.logit_rows * sizeof(DeviceSampleRequest));
  if (prefill_work_ > 0) {
    upload(d.qo_indptr, h.qo_indptr, (seqs + pad + 1) * 4);
    upload(d.prefill_request, h.prefill_request, prefill_work_ * 4);
    upload(d.prefill_tile, h.prefill_tile, prefill_work_ * 4);
    upload(d.prefill_valid, h.prefill_valid, prefill_work_);
  }
  if (store_ != nullptr) store_->set_lookup_rows(shape.rows);
  return shape;
}

void CudaBackend::Run(const StepShape& shape, bool capturable,
                      absl::FunctionRef<void()> body) {
  if (!capturable || !options_.cuda_graphs || failed() ||
      shape.rows > kMaxGraphRows) {
    body();
    return;
  }
  const GraphKey key{shape.rows, shape.logit_rows, needs_sort_, any_sample_,
                     decode_step_};
  auto it = graphs_.find(key);
  if (it != graphs_.end()) {
    Fail(CUDA_STATUS(cudaGraphLaunch(it->second, stream_)));
    return;
  }
  if (graphs_.size() >= kMaxGraphs ||
      cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal) !=
          cudaSuccess) {
    (void)cudaGetLastError();
    body();
    return;
  }
  body();
  cudaGraph_t graph = nullptr;
  absl::Status captured = CUDA_STATUS(cudaStreamEndCapture(stream_, &graph));
  cudaGraphExec_t exec = nullptr;
  if (captured.ok() && !failed()) {
    // Kernel nodes keep the priority of the stream they were captured from
    // (compute above decode) only with this flag.
    captured = CUDA_STATUS(cudaGraphInstantiate(
        &exec, graph,
        options_.prioritize_compute ? cudaGraphInstantiateFlagUseNodePriority
                                    : 0));
  }
  if (graph != nullptr) cudaGraphDestroy(graph);
  if (!captured.ok() || failed()) {
    // Nothing of the step ran: run it eagerly instead, and report what
    // that run meets.
    std::fprintf(
        stderr, "cuda: graph capture failed (%s); running eagerly\n",
        std::string(failed() ? status_.message() : captured.message()).c_str());
    (void)cudaGetLastError();
    status_ = absl::OkStatus();
    body();
    return;
  }
  graphs_[key] = exec;
  Fail(CUDA_STATUS(cudaGraphLaunch(exec, stream_)));
}

absl::Status CudaBackend::EndStep(std::vector<SampledToken>* sampled) {
  sampled->clear();
  Fail(CUDA_STATUS(cudaStreamSynchronize(stream_)));
  if (store_ != nullptr) Fail(store_->TakeErrors());
  if (!status_.ok()) return status_;
  sampled->resize(real_logit_rows_);
  if (!any_sample_ || real_logit_rows_ == 0) return absl::OkStatus();
  DeviceSampled* host = sampled_host_.as<DeviceSampled>();
  RETURN_IF_ERROR(CUDA_STATUS(cudaMemcpy(
      host, sampled_device_.data(), real_logit_rows_ * sizeof(DeviceSampled),
      cudaMemcpyDeviceToHost)));
  const Meta h = Views(meta_host_.as<uint8_t>());
  for (int64_t i = 0; i < real_logit_rows_; ++i) {
    const DeviceSampleRequest& r = h.requests[i];
    if (!r.sample) continue;
    SampledToken& t = (*sampled)[i];
    t.token = host[i].token;
    if (r.logprobs >= 0) t.logprob = host[i].logprob;
    const int64_t top =
        std::min<int64_t>({r.logprobs, kDeviceMaxLogprobs, model_.vocab_size});
    for (int64_t j = 0; j < top; ++j) {
      t.top.push_back({host[i].top_ids[j], host[i].top_logprobs[j]});
    }
  }
  return absl::OkStatus();
}

void CudaBackend::Embed(const uint16_t* table, int64_t rows, void* x) {
  if (failed()) return;
  Fail(LaunchEmbed(table, Views(meta_device_.as<uint8_t>()).tokens, rows,
                   model_.hidden, model_.vocab_offset, model_.vocab_shard,
                   U16(x), stream_));
}

void CudaBackend::RmsNorm(const void* x, const uint16_t* weight, int64_t n,
                          int64_t dim, void* out) {
  if (failed()) return;
  Fail(LaunchRmsNorm(U16(x), weight, n, dim, model_.rms_norm_eps, U16(out),
                     stream_));
}

void CudaBackend::MatMul(const void* x, const uint16_t* w, int64_t n,
                         int64_t in, int64_t out, void* y) {
  Gemm(U16(x), w, n, in, out, y, /*float_out=*/false);
}

void CudaBackend::MatMulToFloat(const void* x, const uint16_t* w, int64_t n,
                                int64_t in, int64_t out, float* y) {
  Gemm(U16(x), w, n, in, out, y, /*float_out=*/true);
}

void CudaBackend::Gemm(const uint16_t* x, const uint16_t* w, int64_t n,
                       int64_t in, int64_t out, void* y, bool float_out) {
  if (failed()) return;
  // gemv_bench on an H200 (docs/perf.md): our GEMV beats cuBLASLt on every
  // 8B-shaped product at one row, not at two to four.
  constexpr int64_t kSmallGemvRows = 1;
  if (options_.small_gemv && n <= kSmallGemvRows &&
      SmallGemvSupports(x, w, n, in, out, y)) {
    Fail(LaunchSmallGemv(x, w, n, in, out, y, float_out, stream_));
    return;
  }
  Fail(gemm_->MatMul(x, w, n, in, out, y, float_out, stream_));
}

void CudaBackend::Rope(void* qkv, int64_t rows) {
  if (failed()) return;
  Fail(LaunchRope(U16(qkv), Views(meta_device_.as<uint8_t>()).positions, rows,
                  model_.qkv_width(), model_.q_heads + model_.kv_heads,
                  model_.head_dim, rope_cos_.as<float>(), rope_sin_.as<float>(),
                  stream_));
}

void CudaBackend::StoreKv(const void* qkv, int64_t layer, int64_t rows) {
  if (failed()) return;
  Fail(LaunchStoreKv(U16(qkv), Views(meta_device_.as<uint8_t>()).kv_slots, rows,
                     model_.qkv_width(), model_.q_width(), model_.kv_width(),
                     KvPool(false, layer), KvPool(true, layer), stream_));
}

void CudaBackend::Attention(const void* qkv, int64_t layer, int64_t rows,
                            void* out) {
  if (failed()) return;
  const Meta d = Views(meta_device_.as<uint8_t>());
#ifdef DF11_HAVE_FLASHINFER
  // FlashInfer's kernels pair local query head h with kv head h / group.
  FlashInferPaged paged;
  paged.q = U16(qkv);
  paged.q_stride = model_.qkv_width();
  paged.q_heads = model_.q_heads;
  paged.kv_heads = model_.kv_heads;
  paged.head_dim = model_.head_dim;
  paged.page_size = limits_.kv_block_tokens;
  paged.k_pages = KvPool(false, layer);
  paged.v_pages = KvPool(true, layer);
  paged.kv_indptr = d.kv_indptr;
  paged.kv_indices = d.kv_indices;
  paged.kv_last_page_len = d.kv_last_page_len;
  paged.out = U16(out);
  int32_t* const index = flashinfer_index_.as<int32_t>();
  int32_t* const zeros = index + limits_.max_batch_tokens;
  int32_t* const chunk_size = zeros + flashinfer_zeros_;
  if (options_.flashinfer_decode && decode_step_ && FlashInferHeads() &&
      FlashInferDecodeSupports(model_.head_dim, model_.group)) {
    FlashInferDecodeArgs f;
    f.paged = paged;
    f.rows = rows;
    f.request_indices = index;  // 0..rows-1
    f.tile_indices = zeros;
    f.chunk_size = chunk_size;
    Fail(LaunchFlashInferDecode(f, stream_));
    return;
  }
  if (prefill_work_ > 0) {
    FlashInferPrefillArgs f;
    f.paged = paged;
    f.sequences = rows;  // the real ones, then empty ones (BeginStep)
    f.qo_indptr = d.qo_indptr;
    f.work = prefill_work_;
    f.request = d.prefill_request;
    f.tile = d.prefill_tile;
    f.valid = d.prefill_valid;
    f.kv_tiles = zeros;
    f.chunk_size = chunk_size;
    Fail(LaunchFlashInferPrefill(f, stream_));
    return;
  }
#endif
  PagedAttentionArgs a;
  a.qkv = U16(qkv);
  a.qkv_width = model_.qkv_width();
  a.positions = d.positions;
  a.row_seq = d.row_seq;
  a.rows = rows;
  a.q_heads = model_.q_heads;
  a.q_head_offset = model_.q_head_offset;
  a.kv_heads = model_.kv_heads;
  a.kv_head_offset = model_.kv_head_offset;
  a.group = model_.group;
  a.head_dim = model_.head_dim;
  a.k_pool = KvPool(false, layer);
  a.v_pool = KvPool(true, layer);
  a.kv_indptr = d.kv_indptr;
  a.kv_indices = d.kv_indices;
  a.block_tokens = limits_.kv_block_tokens;
  a.out = U16(out);
  Fail(LaunchPagedAttention(a, stream_));
}

void CudaBackend::SiluMul(const void* gate_up, int64_t n, int64_t width,
                          void* out) {
  if (failed()) return;
  Fail(LaunchSiluMul(U16(gate_up), n, width, U16(out), stream_));
}

void CudaBackend::Add(void* x, const void* y, int64_t count) {
  if (failed()) return;
  Fail(LaunchAdd(U16(x), U16(y), count, stream_));
}

void CudaBackend::GatherLogitRows(const void* x, int64_t first, int64_t n,
                                  int64_t dim, void* out) {
  if (failed()) return;
  Fail(LaunchGatherRows(U16(x),
                        Views(meta_device_.as<uint8_t>()).logit_rows + first, n,
                        dim, U16(out), stream_));
}

void CudaBackend::Sample(const float* logits, int64_t first, int64_t n) {
  if (failed() || !any_sample_) return;
  const int64_t vocab = model_.vocab_size;
  float* rows = logit_rows_f32_.as<float>();
  Fail(LaunchUnshardLogits(logits, world_.size, n, model_.vocab_shard, vocab,
                           rows, stream_));
  if (needs_sort_) Fail(LaunchSortRows(rows, n, vocab, sort_, stream_));
  if (failed()) return;
  Fail(LaunchSampleRows(rows, sort_, needs_sort_,
                        Views(meta_device_.as<uint8_t>()).requests + first, n,
                        vocab, sampled_device_.as<DeviceSampled>() + first,
                        stream_));
}

void CudaBackend::AllReduceSum(void* x, int64_t count) {
  if (world_.size == 1) return;
  // Issued even after a failure: every rank must reach every collective.
  Fail(NCCL_STATUS(ncclAllReduce(x, x, static_cast<size_t>(count), ncclBfloat16,
                                 ncclSum, nccl_, stream_)));
}

void CudaBackend::AllGather(const float* in, int64_t count, float* out) {
  if (world_.size == 1) {
    if (in != out) {
      Fail(CUDA_STATUS(cudaMemcpyAsync(out, in, count * sizeof(float),
                                       cudaMemcpyDeviceToDevice, stream_)));
    }
    return;
  }
  Fail(NCCL_STATUS(ncclAllGather(in, out, static_cast<size_t>(count),
                                 ncclFloat32, nccl_, stream_)));
}

}  // namespace df11
