// The DF11 model directory end to end on real files: synth -> compress ->
// verify -> decompress at several TP sizes, and each kind of corruption.
#include "loader/format/df11_model.h"

#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loader/format/df11_compress.h"
#include "loader/format/df11_restore.h"
#include "loader/format/safetensors.h"
#include "loader/format/synthetic_checkpoint.h"
#include "nlohmann/json.hpp"

namespace df11 {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string TestDir(const std::string& name) {
  const std::string dir =
      std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR")
                                             : "/tmp") +
      "/" + name;
  fs::remove_all(dir);
  return dir;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string Synth(const std::string& name, bool tied = false) {
  const std::string dir = TestDir(name);
  SyntheticSpec spec;
  spec.tie_word_embeddings = tied;
  spec.max_file_bytes = 100000;  // several files and an index
  EXPECT_TRUE(WriteSyntheticCheckpoint(dir, spec, 2).ok());
  return dir;
}

absl::StatusOr<CompressSummary> Compress(const std::string& in,
                                         const std::string& out, int tp) {
  CompressOptions options;
  options.tp = tp;
  options.threads = 2;
  return CompressCheckpoint(in, out, options);
}

// Every tensor of `a` is in `b` with identical dtype, shape and bytes.
void ExpectSameTensors(const std::string& a, const std::string& b) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(a)) {
    if (e.path().extension() == ".safetensors") {
      files.push_back(e.path().filename());
    }
  }
  ASSERT_FALSE(files.empty());
  for (const std::string& f : files) {
    auto x = SafetensorsFile::Open(a + "/" + f);
    auto y = SafetensorsFile::Open(b + "/" + f);
    ASSERT_TRUE(x.ok() && y.ok()) << f;
    ASSERT_EQ((*x)->tensors().size(), (*y)->tensors().size()) << f;
    for (const TensorInfo& t : (*x)->tensors()) {
      const TensorInfo* u = (*y)->Find(t.name);
      ASSERT_NE(u, nullptr) << t.name;
      EXPECT_EQ(t.dtype, u->dtype) << t.name;
      EXPECT_EQ(t.shape, u->shape) << t.name;
      const auto p = (*x)->Data(t), q = (*y)->Data(*u);
      ASSERT_TRUE(std::equal(p.begin(), p.end(), q.begin(), q.end())) << t.name;
    }
  }
}

class RoundTripTest : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(RoundTripTest, HfToDf11ToHfIsByteIdentical) {
  const auto [tp, tied] = GetParam();
  const std::string name = "rt_tp" + std::to_string(tp) + (tied ? "_tied" : "");
  const std::string hf = Synth(name + "_hf", tied);
  const std::string df11 = TestDir(name + "_df11");
  const std::string back = TestDir(name + "_back");

  auto summary = Compress(hf, df11, tp);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_LT(summary->df11_stored_bytes, summary->df11_elements * 2 * 0.70);

  auto model = Df11Model::Open(df11);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->manifest().tp, tp);
  for (int rank = 0; rank < tp; ++rank) {
    EXPECT_TRUE(fs::exists(df11 + "/" + RankFileName(rank)));
  }
  EXPECT_FALSE(fs::exists(df11 + "/" + RankFileName(tp)));
  EXPECT_TRUE(fs::exists(df11 + "/config.json"));

  VerifyOptions verify;
  verify.threads = 2;
  verify.against = hf;
  auto report = VerifyModel(df11, verify);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->shards, report->tensors * tp);

  ASSERT_TRUE(DecompressModel(df11, back, 2).ok());
  ExpectSameTensors(hf, back);
  EXPECT_TRUE(fs::exists(back + "/model.safetensors.index.json"));
  EXPECT_EQ(ReadText(hf + "/config.json"), ReadText(back + "/config.json"));
}

INSTANTIATE_TEST_SUITE_P(TpSizes, RoundTripTest,
                         ::testing::Combine(::testing::Values(1, 2, 4),
                                            ::testing::Bool()));

TEST(CompressTest, KeyValueHeadsAreReplicatedWhenFewerThanRanks) {
  // The tiny preset has 2 KV heads: at TP=4 every rank holds both.
  const std::string hf = Synth("kv_hf");
  const std::string df11 = TestDir("kv_df11");
  ASSERT_TRUE(Compress(hf, df11, 4).ok());
  auto model = Df11Model::Open(df11);
  ASSERT_TRUE(model.ok());
  for (const ManifestTensor& t : (*model)->manifest().tensors) {
    if (t.name.find("k_proj") != std::string::npos) {
      EXPECT_EQ(t.split, SplitKind::kReplicated) << t.name;
      EXPECT_EQ(t.shards[3].shape, t.shape);
    }
    if (t.name.find("q_proj") != std::string::npos) {
      EXPECT_EQ(t.split, SplitKind::kRows);
    }
  }
}

TEST(CompressTest, IndivisibleTpNamesTheTensorAndLeavesNothing) {
  const std::string hf = Synth("tp8_hf");
  const std::string df11 = TestDir("tp8_df11");
  auto summary = Compress(hf, df11, 8);  // 4 attention heads
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(summary.status().message()),
              AllOf(HasSubstr("model.layers.0.self_attn."),
                    HasSubstr("4 attention heads do not divide into 8")));
  EXPECT_FALSE(fs::exists(df11));
  for (const auto& e : fs::directory_iterator(fs::path(df11).parent_path())) {
    EXPECT_EQ(e.path().string().find(df11 + ".tmp"), std::string::npos)
        << "temporary directory left behind: " << e.path();
  }
}

// A one-file synthetic checkpoint, then `edit` applied to its tensors
// (name -> dtype and shape; bytes are filled in) and config.json text.
struct CheckpointEdit {
  std::string name;
  std::function<void(std::map<std::string, TensorInfo>& tensors,
                     std::string& config)>
      edit;
  std::vector<std::string> message_parts;  // "" for a checkpoint that works
};

std::string EditedCheckpoint(const CheckpointEdit& c) {
  const std::string base = Synth("edit_base_" + c.name);
  // Synth writes several files; make one so tensors can be added and removed.
  std::map<std::string, TensorInfo> tensors;
  std::map<std::string, std::vector<uint8_t>> bytes;
  for (const auto& e : fs::directory_iterator(base)) {
    if (e.path().extension() != ".safetensors") continue;
    auto f = SafetensorsFile::Open(e.path());
    EXPECT_TRUE(f.ok()) << f.status();
    for (const TensorInfo& t : (*f)->tensors()) {
      tensors[t.name] = t;
      const auto data = (*f)->Data(t);
      bytes[t.name].assign(data.begin(), data.end());
    }
  }
  std::string config = ReadText(base + "/config.json");
  c.edit(tensors, config);
  const std::string dir = TestDir("edit_" + c.name);
  fs::create_directories(dir);
  WriteText(dir + "/config.json", config);
  std::vector<SafetensorsWriter::Declared> declared;
  for (const auto& [name, t] : tensors) declared.push_back({name, t.dtype});
  SafetensorsWriter writer(dir + "/model.safetensors", declared);
  EXPECT_TRUE(writer.Open().ok());
  for (const auto& [name, t] : tensors) {
    std::vector<uint8_t>& b = bytes[name];
    b.resize(NumElements(t.shape) * DtypeSize(t.dtype), 0x3c);
    EXPECT_TRUE(writer.Append(name, t.shape, b).ok()) << name;
  }
  EXPECT_TRUE(writer.Finish().ok());
  return dir;
}

class CheckpointSchemaTest : public ::testing::TestWithParam<CheckpointEdit> {};

// Compress accepts only checkpoints that match the Llama schema for their
// config.json: anything else is an error naming the tensor and the file,
// and leaves nothing behind.
TEST_P(CheckpointSchemaTest, CompressChecksTheTensorsAgainstTheConfig) {
  const CheckpointEdit& c = GetParam();
  const std::string hf = EditedCheckpoint(c);
  const std::string df11 = TestDir("edit_df11_" + c.name);
  auto summary = Compress(hf, df11, 2);
  if (c.message_parts.empty()) {
    ASSERT_TRUE(summary.ok()) << summary.status();
    VerifyOptions verify;
    verify.threads = 2;
    verify.against = hf;
    EXPECT_TRUE(VerifyModel(df11, verify).ok());
    const std::string back = TestDir("edit_back_" + c.name);
    ASSERT_TRUE(DecompressModel(df11, back, 2).ok());
    ExpectSameTensors(hf, back);
    return;
  }
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument)
      << summary.status();
  for (const std::string& part : c.message_parts) {
    EXPECT_THAT(std::string(summary.status().message()), HasSubstr(part));
  }
  EXPECT_FALSE(fs::exists(df11));
}

TensorInfo Info(Dtype dtype, std::vector<uint64_t> shape) {
  TensorInfo t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  return t;
}

INSTANTIATE_TEST_SUITE_P(
    Edits, CheckpointSchemaTest,
    ::testing::Values(
        CheckpointEdit{"unchanged", [](auto&, auto&) {}, {}},
        CheckpointEdit{
            "q_bias",
            [](auto& t, auto&) {
              t["model.layers.0.self_attn.q_proj.bias"] =
                  Info(Dtype::kBF16, {64});
            },
            {"/model.safetensors: model.layers.0.self_attn.q_proj.bias is not "
             "a Llama tensor df11 knows; ignoring it would give wrong "
             "outputs"}},
        CheckpointEdit{
            "k_bias_f32",
            [](auto& t, auto&) {
              t["model.layers.1.self_attn.k_proj.bias"] =
                  Info(Dtype::kF32, {32});
            },
            {"model.safetensors: model.layers.1.self_attn.k_proj.bias is not "
             "a Llama tensor df11 knows"}},
        CheckpointEdit{
            "other_architecture",
            [](auto& t, auto&) {
              t["transformer.wte.weight"] = Info(Dtype::kBF16, {256, 64});
            },
            {"model.safetensors: transformer.wte.weight is not a Llama "
             "tensor"}},
        CheckpointEdit{
            "layer_past_config",
            [](auto& t, auto&) {
              t["model.layers.2.mlp.up_proj.weight"] =
                  Info(Dtype::kBF16, {192, 64});
            },
            {"model.safetensors: config.json says num_hidden_layers 2 but the "
             "model has model.layers.2.mlp.up_proj.weight"}},
        CheckpointEdit{
            "missing_tensor",
            [](auto& t, auto&) {
              t.erase("model.layers.1.post_attention_layernorm.weight");
            },
            {"config.json implies tensor "
             "model.layers.1.post_attention_layernorm.weight, which the "
             "model does not have"}},
        CheckpointEdit{
            "wrong_shape",
            [](auto&, std::string& config) {
              config = absl::StrReplaceAll(config, {{"\"intermediate_size\": "
                                                     "192",
                                                     "\"intermediate_size\": "
                                                     "256"}});
            },
            {"model.safetensors: model.layers.0.mlp.down_proj.weight has "
             "shape [64, 192] but config.json implies [64, 256]"}},
        CheckpointEdit{"rotary_inv_freq_is_kept",
                       [](auto& t, auto&) {
                         for (int l = 0; l < 2; ++l) {
                           t[absl::StrCat("model.layers.", l,
                                          ".self_attn.rotary_emb.inv_freq")] =
                               Info(Dtype::kF32, {8});
                         }
                       },
                       {}}),
    [](const auto& info) { return info.param.name; });

// Tensors of several encoder segments, one tensor in flight at a time or
// many, on 1 or 3 threads: the output directory is the same to the byte.
TEST(CompressTest, BudgetAndThreadsDoNotChangeTheBytes) {
  const std::string hf = TestDir("budget_hf");
  SyntheticSpec spec;
  spec.hidden_size = 1024;
  spec.intermediate_size = 4096;  // MLP weights: 4M elements, 2 segments
  spec.num_layers = 1;
  spec.num_heads = 8;
  spec.num_kv_heads = 2;
  spec.vocab_size = 4100;
  ASSERT_TRUE(WriteSyntheticCheckpoint(hf, spec, 2).ok());
  const std::vector<std::string> files = {RankFileName(0), RankFileName(1),
                                          kManifestFileName};
  std::vector<std::string> first;
  for (const auto& [threads, budget] :
       {std::pair<int, uint64_t>{2, 0}, {1, 1}, {3, 1}, {3, 30u << 20}}) {
    SCOPED_TRACE(testing::Message()
                 << threads << " threads, budget " << budget);
    const std::string out = TestDir("budget_df11");
    CompressOptions options;
    options.tp = 2;
    options.threads = threads;
    options.memory_budget = budget;
    auto summary = CompressCheckpoint(hf, out, options);
    ASSERT_TRUE(summary.ok()) << summary.status();
    std::vector<std::string> contents;
    for (const std::string& f : files)
      contents.push_back(ReadText(out + "/" + f));
    if (first.empty()) {
      first = contents;
      VerifyOptions verify;
      verify.threads = 2;
      verify.against = hf;
      auto report = VerifyModel(out, verify);
      ASSERT_TRUE(report.ok()) << report.status();
    } else {
      for (size_t i = 0; i < files.size(); ++i) {
        EXPECT_TRUE(contents[i] == first[i]) << files[i] << " differs";
      }
    }
  }
}

// A rank file that cannot grow (the file size limit stands in for a full
// disk) stops every thread and names the file; nothing is left behind.
TEST(CompressTest, AWriteErrorStopsThePipelineAndNamesTheFile) {
  const std::string hf = TestDir("write_error_hf");
  SyntheticSpec spec;
  spec.hidden_size = 512;
  spec.intermediate_size = 2048;
  spec.num_heads = 8;
  spec.num_kv_heads = 2;
  spec.vocab_size = 2048;
  ASSERT_TRUE(WriteSyntheticCheckpoint(hf, spec, 2).ok());
  const std::string df11 = TestDir("write_error_df11");
  rlimit old;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of a signal
  rlimit small = old;
  small.rlim_cur = 1 << 20;  // each rank file needs about 2.5 MB
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  CompressOptions options;
  options.tp = 2;
  options.threads = 3;
  auto summary = CompressCheckpoint(hf, df11, options);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kOutOfRange)  // EFBIG
      << summary.status();
  EXPECT_THAT(std::string(summary.status().message()),
              AllOf(HasSubstr("rank-0"), HasSubstr(".safetensors.tmp")));
  EXPECT_FALSE(fs::exists(df11));
  for (const auto& e : fs::directory_iterator(fs::path(df11).parent_path())) {
    EXPECT_EQ(e.path().string().find(df11 + ".tmp"), std::string::npos)
        << "temporary directory left behind: " << e.path();
  }
}

TEST(CompressTest, ExistingOutputIsNotTouched) {
  const std::string hf = Synth("exists_hf");
  const std::string df11 = TestDir("exists_df11");
  fs::create_directories(df11);
  WriteText(df11 + "/keep", "x");
  EXPECT_EQ(Compress(hf, df11, 1).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadText(df11 + "/keep"), "x");
}

// Corruptions of a compressed model, each with the exact status code and the
// file and tensor its message must name.
struct Corruption {
  std::string name;
  std::function<void(const std::string& dir)> apply;
  absl::StatusCode code;
  std::vector<std::string> message_parts;
};

class CorruptionTest : public ::testing::TestWithParam<Corruption> {
 protected:
  static void SetUpTestSuite() {
    hf_ = new std::string(Synth("corrupt_hf"));
    clean_ = new std::string(TestDir("corrupt_clean"));
    ASSERT_TRUE(Compress(*hf_, *clean_, 2).ok());
  }
  static std::string* hf_;
  static std::string* clean_;
};
std::string* CorruptionTest::hf_;
std::string* CorruptionTest::clean_;

// The first byte of a tensor's stored array in a rank file.
uint64_t ArrayOffset(const std::string& file, const std::string& array) {
  auto f = SafetensorsFile::Open(file);
  EXPECT_TRUE(f.ok()) << f.status();
  const TensorInfo* t = (*f)->Find(array);
  EXPECT_NE(t, nullptr) << array;
  return (*f)->Data(*t).data() - (*f)->Data((*f)->tensors()[0]).data() +
         fs::file_size(file) - [&] {
           uint64_t data = 0;
           for (const TensorInfo& x : (*f)->tensors()) data += x.num_bytes();
           return data;
         }();
}

void EditManifest(const std::string& dir,
                  const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json m = nlohmann::json::parse(ReadText(dir + "/df11.json"));
  edit(m);
  WriteText(dir + "/df11.json", m.dump(1));
}

const char kTensor[] = "model.layers.1.mlp.up_proj.weight";

TEST_P(CorruptionTest, VerifyReportsIt) {
  const std::string dir = TestDir("corrupt_" + GetParam().name);
  fs::copy(*clean_, dir);
  GetParam().apply(dir);
  VerifyOptions options;
  options.threads = 2;
  const absl::StatusOr<VerifyReport> report = VerifyModel(dir, options);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), GetParam().code) << report.status();
  for (const std::string& part : GetParam().message_parts) {
    EXPECT_THAT(std::string(report.status().message()), HasSubstr(part));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, CorruptionTest,
    ::testing::Values(
        Corruption{"TruncatedShard",
                   [](const std::string& dir) {
                     const std::string f = dir + "/rank-01.safetensors";
                     fs::resize_file(f, fs::file_size(f) - 100);
                   },
                   // The file's last entry: compress writes the largest
                   // tensors first, so it ends with the smallest.
                   absl::StatusCode::kInvalidArgument,
                   {"rank-01.safetensors", "model.norm.weight"}},
        Corruption{"FlippedPayloadByte",
                   [](const std::string& dir) {
                     const std::string f = dir + "/rank-00.safetensors";
                     const uint64_t at = ArrayOffset(
                         f, std::string(kTensor) + ".df11.sign_mantissa");
                     std::fstream io(
                         f, std::ios::in | std::ios::out | std::ios::binary);
                     io.seekg(at + 10);
                     const char c = static_cast<char>(io.get());
                     io.seekp(at + 10);
                     io.put(static_cast<char>(c ^ 0x10));
                   },
                   absl::StatusCode::kDataLoss,
                   {"rank-00.safetensors", kTensor, "checksum"}},
        Corruption{"BumpedFormatVersion",
                   [](const std::string& dir) {
                     EditManifest(dir, [](nlohmann::json& m) {
                       m["format_version"] = 2;
                     });
                   },
                   absl::StatusCode::kInvalidArgument,
                   {"df11.json", "format_version", "version 2"}},
        Corruption{"ManifestDoesNotMatchShard",
                   [](const std::string& dir) {
                     EditManifest(dir, [](nlohmann::json& m) {
                       for (auto& t : m["tensors"]) {
                         if (t["name"] == kTensor) {
                           t["shards"][1]["stream_bits"] =
                               t["shards"][1]["stream_bits"].get<uint64_t>() +
                               4096;
                         }
                       }
                     });
                   },
                   absl::StatusCode::kDataLoss,
                   {"rank-01.safetensors", kTensor, "the manifest says"}},
        Corruption{"ManifestChecksumDiffers",
                   [](const std::string& dir) {
                     EditManifest(dir, [](nlohmann::json& m) {
                       for (auto& t : m["tensors"]) {
                         if (t["name"] == kTensor) {
                           t["shards"][0]["original_xxh3"] = "0123456789abcdef";
                         }
                       }
                     });
                   },
                   absl::StatusCode::kDataLoss,
                   {"rank-00.safetensors", kTensor, "original checksum"}},
        Corruption{"BadJson",
                   [](const std::string& dir) {
                     WriteText(dir + "/df11.json",
                               ReadText(dir + "/df11.json").substr(0, 200));
                   },
                   absl::StatusCode::kInvalidArgument,
                   {"df11.json", "not valid JSON"}},
        Corruption{"HeaderLengthPastEnd",
                   [](const std::string& dir) {
                     std::fstream io(
                         dir + "/rank-00.safetensors",
                         std::ios::in | std::ios::out | std::ios::binary);
                     const char big[8] = {0, 0, 0, 0x10, 0, 0, 0, 0};
                     io.write(big, 8);
                   },
                   absl::StatusCode::kInvalidArgument,
                   {"rank-00.safetensors", "header length"}},
        Corruption{"MissingRankFile",
                   [](const std::string& dir) {
                     fs::remove(dir + "/rank-01.safetensors");
                   },
                   absl::StatusCode::kNotFound,
                   {"rank-01.safetensors"}}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace df11
