#include "loader/plan/memory_plan.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace df11 {
namespace {

uint64_t AlignUp(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

// One slot of a weight group (weight_store.h): its elements on this rank,
// and whether it holds matrices (DF11-encoded) or a 1-D norm (raw).
struct Slot {
  uint64_t elements = 0;
  bool matrix = true;
};
using Group = std::vector<Slot>;

// Bytes of the slots a group decodes into its buffer, each slot starting
// kSlotAlignBytes-aligned (as the weight stores lay them out). Slots stored
// raw are used where they are and take no buffer space.
uint64_t BufferBytes(const Group& group, bool norms_decoded) {
  uint64_t bytes = 0;
  for (const Slot& s : group) {
    if (s.matrix || norms_decoded) {
      bytes = AlignUp(bytes + 2 * s.elements, kSlotAlignBytes);
    }
  }
  return bytes;
}

uint64_t Df11Bytes(uint64_t elements, double bits) {
  return static_cast<uint64_t>(
      std::ceil(static_cast<double>(elements) * bits / 8));
}

std::string Bytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  const double a = std::fabs(b);
  if (a >= 1e9) return absl::StrFormat("%.2f GB", b / 1e9);
  if (a >= 1e6) return absl::StrFormat("%.2f MB", b / 1e6);
  if (a >= 1e3) return absl::StrFormat("%.2f KB", b / 1e3);
  return absl::StrFormat("%d B", bytes);
}

std::string Count(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) {
    digits.insert(i, ",");
  }
  return n < 0 ? "-" + digits : digits;
}

nlohmann::json ResidencyJson(const ResidencyPlan& r) {
  return {
      {"weights", r.weights},
      {"host_weights", r.host_weights},
      {"decode_buffers", r.decode_buffers},
      {"activations", r.activations},
      {"workspace",
       {{"cublaslt", r.workspace.cublaslt},
        {"attention", r.workspace.attention},
        {"step_metadata", r.workspace.step_metadata},
        {"rope_table", r.workspace.rope_table},
        {"sampling", r.workspace.sampling},
        {"nccl", r.workspace.nccl},
        {"total", r.workspace.total()}}},
      {"margin", r.margin},
      {"fixed", r.fixed()},
      {"left_for_kv", r.left_for_kv},
      {"kv_capacity_tokens", r.kv_capacity_tokens},
      {"kv_cache", r.kv_cache},
      {"fits", r.fits},
  };
}

}  // namespace

absl::string_view ResidencyName(Residency r) {
  switch (r) {
    case Residency::kDf11:
      return "df11";
    case Residency::kBf16:
      return "bf16";
    case Residency::kOffload:
      return "offload";
  }
  return "?";
}

absl::StatusOr<Residency> ParseResidency(absl::string_view name) {
  for (Residency r : kResidencies) {
    if (name == ResidencyName(r)) return r;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown residency mode '", name, "' (df11, bf16 or offload)"));
}

const ResidencyPlan& MemoryPlan::For(Residency r) const {
  switch (r) {
    case Residency::kBf16:
      return bf16;
    case Residency::kOffload:
      return offload;
    case Residency::kDf11:
      break;
  }
  return df11;
}

PlanOptions PlanOptionsFor(const EngineOptions& engine, double gpu_memory_gb) {
  PlanOptions options;
  options.gpu_memory_gb = gpu_memory_gb;
  options.max_batch_tokens = engine.max_batch_tokens;
  options.max_batch_sequences = engine.max_batch_sequences;
  options.max_logit_rows = engine.max_logit_rows;
  options.kv_block_tokens = engine.kv_block_tokens;
  options.max_context = engine.max_context;
  return options;
}

absl::StatusOr<MemoryPlan> PlanMemory(const LlamaConfig& config, int tp,
                                      const PlanOptions& options) {
  const LlamaConfig& c = config;
  if (c.hidden_size < 1 || c.intermediate_size < 1 || c.num_hidden_layers < 0 ||
      c.num_attention_heads < 1 || c.num_key_value_heads < 1 ||
      c.head_dim < 1 || c.vocab_size < 1) {
    return absl::InvalidArgumentError(
        "plan: the model's sizes must be positive");
  }
  if (tp < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan: tensor parallel size ", tp, " must be positive"));
  }
  const bool kv_split = c.num_key_value_heads >= tp;
  // The split rules (loader/shard/llama_schema.h) as CheckLlamaWeights
  // applies them; the vocabulary pads to equal shards.
  const struct {
    int64_t value;
    const char* what;
  } split[] = {{c.num_attention_heads, "num_attention_heads"},
               {kv_split ? c.num_key_value_heads : 0, "num_key_value_heads"},
               {c.intermediate_size, "intermediate_size"}};
  for (const auto& s : split) {
    if (s.value % tp != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("plan: ", s.what, " ", s.value,
                       " is not divisible by tensor parallel size ", tp));
    }
  }
  MemoryPlan plan;
  plan.tp = tp;
  PlanOptions& o = plan.options;
  o = options;
  if (o.max_context == 0) o.max_context = c.max_position_embeddings;
  o.max_logit_rows = std::min(o.max_logit_rows, o.max_batch_tokens);
  if (!(o.gpu_memory_gb > 0) || o.max_batch_tokens < 1 ||
      o.max_batch_sequences < 1 || o.max_logit_rows < 1 ||
      o.kv_block_tokens < 1 || o.max_context < 1 ||
      !(o.df11_bits_per_weight > 0 && o.df11_bits_per_weight <= 32) ||
      o.activation_bytes < 1 || o.kv_bytes < 1) {
    return absl::InvalidArgumentError(
        "plan: gpu_memory_gb, max_batch_tokens, max_batch_sequences, "
        "max_logit_rows, kv_block_tokens, max_context, bits per weight and "
        "element sizes must be positive");
  }
  plan.gpu_bytes = static_cast<uint64_t>(o.gpu_memory_gb * 1e9);

  // This rank's shard (loader/engine/llama_weights.cc, CheckLlamaWeights).
  const uint64_t h = c.hidden_size, hd = c.head_dim;
  plan.q_heads = c.num_attention_heads / tp;
  plan.kv_heads = kv_split ? c.num_key_value_heads / tp : c.num_key_value_heads;
  plan.ffn = c.intermediate_size / tp;
  plan.vocab_shard = (c.vocab_size + tp - 1) / tp;
  const uint64_t q_width = plan.q_heads * hd, kv_width = plan.kv_heads * hd;
  const uint64_t ffn = plan.ffn, vocab_shard = plan.vocab_shard;

  // The engine's weight groups (llama_engine.cc): the embedding; each layer
  // (input_norm, q|k|v, o, post_norm, gate|up, down); the final norm and the
  // LM head (the embedding again when tied: the head group loads it too).
  const Group embed = {{vocab_shard * h, true}};
  const Group layer = {
      {h, false},          {(q_width + 2 * kv_width) * h, true},
      {h * q_width, true}, {h, false},
      {2 * ffn * h, true}, {h * ffn, true}};
  const Group head = {{h, false}, {vocab_shard * h, true}};
  const uint64_t layers = c.num_hidden_layers;
  const auto sum = [&](bool matrix) {
    uint64_t n = 0;
    for (const Group* g : {&embed, &head}) {
      for (const Slot& s : *g) n += s.matrix == matrix ? s.elements : 0;
    }
    for (const Slot& s : layer)
      n += s.matrix == matrix ? layers * s.elements : 0;
    return n;
  };
  plan.matrix_elements = sum(true);
  plan.norm_elements = sum(false);
  const auto largest_buffer = [&](bool norms_decoded) {
    uint64_t largest = std::max(BufferBytes(embed, norms_decoded),
                                BufferBytes(head, norms_decoded));
    if (layers > 0) {
      largest = std::max(largest, BufferBytes(layer, norms_decoded));
    }
    return largest;
  };

  // Engine scratch (llama_engine.cc, Load), sized once for max_batch_tokens.
  const uint64_t rows = o.max_batch_tokens, logit_rows = o.max_logit_rows;
  const uint64_t a = o.activation_bytes;
  const uint64_t activations =
      3 * rows * h * a                                  // x, h, proj
      + rows * (q_width + 2 * kv_width) * a             // q|k|v
      + rows * q_width * a                              // attention output
      + rows * 2 * ffn * a + rows * ffn * a             // gate|up, act
      + logit_rows * vocab_shard * sizeof(float)        // logits
      + tp * logit_rows * vocab_shard * sizeof(float);  // gathered

  WorkspacePlan workspace;
  workspace.cublaslt = kCublasLtWorkspaceBytes;
  workspace.attention = kAttentionWorkspaceBytes;
  // StepBatch (backend.h): tokens, positions, kv_slots per row; qo/kv
  // indptr and last-page lengths per sequence; logit rows, their requests
  // and results (every row may ask for logits). kv_indices is counted with
  // the KV blocks below.
  const uint64_t seqs = o.max_batch_sequences;
  workspace.step_metadata =
      4 * (3 * rows + 2 * (seqs + 1) + seqs) +
      rows * (4 + kSampleRequestBytes + kSampledTokenBytes);
  workspace.rope_table = o.max_context * (hd / 2) * 2 * sizeof(float);
  workspace.sampling = logit_rows * tp * vocab_shard * kSamplingBytesPerLogit;
  workspace.nccl = tp > 1 ? kNcclBytes : 0;

  plan.kv_bytes_per_token = 2 * layers * kv_width * o.kv_bytes;
  const uint64_t block_bytes =
      o.kv_block_tokens * plan.kv_bytes_per_token + sizeof(int32_t);
  const uint64_t margin =
      kCudaContextBytes +
      static_cast<uint64_t>(kFragmentationFraction * plan.gpu_bytes);

  const double bits = o.df11_bits_per_weight;
  for (Residency r : kResidencies) {
    ResidencyPlan& p = r == Residency::kDf11   ? plan.df11
                       : r == Residency::kBf16 ? plan.bf16
                                               : plan.offload;
    p.residency = r;
    const uint64_t bf16 = 2 * (plan.matrix_elements + plan.norm_elements);
    switch (r) {
      case Residency::kDf11:
        p.weights =
            Df11Bytes(plan.matrix_elements, bits) + 2 * plan.norm_elements;
        p.decode_buffers = 2 * largest_buffer(false);
        break;
      case Residency::kBf16:
        p.weights = bf16;
        break;
      case Residency::kOffload:
        p.host_weights = bf16;
        p.decode_buffers = 2 * largest_buffer(true);
        break;
    }
    p.activations = activations;
    p.workspace = workspace;
    p.margin = margin;
    p.left_for_kv =
        static_cast<int64_t>(plan.gpu_bytes) - static_cast<int64_t>(p.fixed());
    const int64_t blocks =
        p.left_for_kv > 0 ? p.left_for_kv / static_cast<int64_t>(block_bytes)
                          : 0;
    p.kv_capacity_tokens = blocks * o.kv_block_tokens;
    p.kv_cache = blocks * block_bytes;
    p.fits = blocks >= 1;
  }
  return plan;
}

std::string FormatMemoryPlan(const LlamaConfig& c, const MemoryPlan& plan) {
  const PlanOptions& o = plan.options;
  std::string out = absl::StrFormat(
      "Llama: hidden %d, %d layers, %d heads, %d KV heads of %d, FFN %d, "
      "vocab %d\n",
      c.hidden_size, c.num_hidden_layers, c.num_attention_heads,
      c.num_key_value_heads, c.head_dim, c.intermediate_size, c.vocab_size);
  absl::StrAppendFormat(
      &out,
      "Per GPU at TP=%d (each rank: %d heads, %d KV heads, FFN %d, %d "
      "vocabulary rows), budget %s\n",
      plan.tp, plan.q_heads, plan.kv_heads, plan.ffn, plan.vocab_shard,
      Bytes(plan.gpu_bytes));
  absl::StrAppendFormat(
      &out,
      "max_batch_tokens %d, max_batch_sequences %d, max_logit_rows %d, "
      "max_context %d, KV blocks of %d tokens\n",
      o.max_batch_tokens, o.max_batch_sequences, o.max_logit_rows,
      o.max_context, o.kv_block_tokens);
  absl::StrAppendFormat(
      &out,
      "weights per rank: %s matrix elements (DF11 at %.2f bits), %s norm "
      "elements (raw); activations %d B, KV %d B per element: %s per token\n\n",
      Count(plan.matrix_elements), o.df11_bits_per_weight,
      Count(plan.norm_elements), o.activation_bytes, o.kv_bytes,
      Bytes(plan.kv_bytes_per_token));

  const ResidencyPlan* cols[] = {&plan.df11, &plan.bf16, &plan.offload};
  const auto row = [&](absl::string_view label, auto value) {
    absl::StrAppendFormat(&out, "%-26s", label);
    for (const ResidencyPlan* p : cols) {
      absl::StrAppendFormat(&out, "%14s", value(*p));
    }
    out += "\n";
  };
  row("", [](const ResidencyPlan& p) {
    return std::string(ResidencyName(p.residency));
  });
  row("weights (GPU)", [](const ResidencyPlan& p) { return Bytes(p.weights); });
  row("weights (pinned host)", [](const ResidencyPlan& p) {
    return p.host_weights > 0 ? Bytes(p.host_weights) : std::string("-");
  });
  row("decode buffers (2 groups)",
      [](const ResidencyPlan& p) { return Bytes(p.decode_buffers); });
  row("activations",
      [](const ResidencyPlan& p) { return Bytes(p.activations); });
  row("workspace",
      [](const ResidencyPlan& p) { return Bytes(p.workspace.total()); });
  row("  cuBLASLt",
      [](const ResidencyPlan& p) { return Bytes(p.workspace.cublaslt); });
  row("  attention",
      [](const ResidencyPlan& p) { return Bytes(p.workspace.attention); });
  row("  step metadata",
      [](const ResidencyPlan& p) { return Bytes(p.workspace.step_metadata); });
  row("  RoPE table",
      [](const ResidencyPlan& p) { return Bytes(p.workspace.rope_table); });
  row("  sampling",
      [](const ResidencyPlan& p) { return Bytes(p.workspace.sampling); });
  row("  NCCL", [](const ResidencyPlan& p) { return Bytes(p.workspace.nccl); });
  row("margin (context, frag.)",
      [](const ResidencyPlan& p) { return Bytes(p.margin); });
  row("left for KV cache",
      [](const ResidencyPlan& p) { return Bytes(p.left_for_kv); });
  row("KV capacity (tokens)",
      [](const ResidencyPlan& p) { return Count(p.kv_capacity_tokens); });
  row("  sequences of max_context", [&](const ResidencyPlan& p) {
    return absl::StrFormat("%.2f", static_cast<double>(p.kv_capacity_tokens) /
                                       static_cast<double>(o.max_context));
  });
  row("fits", [](const ResidencyPlan& p) {
    return std::string(p.fits ? "yes" : "NO");
  });
  return out;
}

nlohmann::json MemoryPlanJson(const MemoryPlan& plan) {
  const PlanOptions& o = plan.options;
  nlohmann::json j = {
      {"tp", plan.tp},
      {"gpu_bytes", plan.gpu_bytes},
      {"options",
       {{"gpu_memory_gb", o.gpu_memory_gb},
        {"max_batch_tokens", o.max_batch_tokens},
        {"max_batch_sequences", o.max_batch_sequences},
        {"max_logit_rows", o.max_logit_rows},
        {"kv_block_tokens", o.kv_block_tokens},
        {"max_context", o.max_context},
        {"df11_bits_per_weight", o.df11_bits_per_weight},
        {"activation_bytes", o.activation_bytes},
        {"kv_bytes", o.kv_bytes}}},
      {"shard",
       {{"q_heads", plan.q_heads},
        {"kv_heads", plan.kv_heads},
        {"ffn", plan.ffn},
        {"vocab_shard", plan.vocab_shard}}},
      {"matrix_elements", plan.matrix_elements},
      {"norm_elements", plan.norm_elements},
      {"kv_bytes_per_token", plan.kv_bytes_per_token},
      {"constants",
       {{"slot_align_bytes", kSlotAlignBytes},
        {"cublaslt_workspace_bytes", kCublasLtWorkspaceBytes},
        {"attention_workspace_bytes", kAttentionWorkspaceBytes},
        {"sample_request_bytes", kSampleRequestBytes},
        {"sampled_token_bytes", kSampledTokenBytes},
        {"sampling_bytes_per_logit", kSamplingBytesPerLogit},
        {"nccl_bytes", kNcclBytes},
        {"cuda_context_bytes", kCudaContextBytes},
        {"fragmentation_fraction", kFragmentationFraction}}},
  };
  for (Residency r : kResidencies) {
    j["residency"][std::string(ResidencyName(r))] = ResidencyJson(plan.For(r));
  }
  return j;
}

}  // namespace df11
