// `df11 compress` of the golden fixtures, end to end on real files:
//
// - Vocabularies that TP divides: the DF11 directory is the same, byte for
//   byte, as the compressor made before padded vocabularies existed (hashes
//   recorded from that build), so existing directories stay valid.
// - odd_vocab (vocabulary 389) at TP 2 and 3: the embedding and LM head are
//   split "rows_padded" into equal parts ending in zero rows; verify against
//   the original passes, decompress gives the checkpoint back byte for byte,
//   and CheckLlamaWeights accepts it with the padded dims.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "loader/engine/llama_weights.h"
#include "loader/engine/weight_source.h"
#include "loader/format/df11_compress.h"
#include "loader/format/df11_model.h"
#include "loader/format/df11_restore.h"
#include "loader/format/llama_config.h"
#include "loader/format/safetensors.h"
#include "loader/format/synthetic_checkpoint.h"
#include "tests/engine/golden_fixture.h"
#include "xxhash.h"

namespace df11 {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& name) {
  const fs::path dir = fs::path(std::getenv("TEST_TMPDIR")) / name;
  fs::remove_all(dir);
  return dir.string();
}

std::string FileXxh3(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  return absl::StrFormat("%016x", XXH3_64bits(bytes.data(), bytes.size()));
}

absl::StatusOr<CompressSummary> Compress(const std::string& in,
                                         const std::string& out, int tp) {
  CompressOptions options;
  options.tp = tp;
  options.threads = 2;
  return CompressCheckpoint(in, out, options);
}

struct BytesCase {
  const char* model;  // a golden fixture, or "synthetic" (the tiny preset)
  int tp;
  // XXH3-64 of df11.json, rank-00.safetensors, rank-01.safetensors, ...
  std::vector<const char*> hashes;
};

class CompressBytesTest : public ::testing::TestWithParam<BytesCase> {};

TEST_P(CompressBytesTest, DirectoryIsByteIdenticalToTheRecordedOne) {
  const BytesCase& c = GetParam();
  std::string in = absl::StrCat(kGoldenRoot, "/", c.model);
  if (std::string(c.model) == "synthetic") {
    // As `df11 synth --preset=tiny --max_file_gb=0.0001` writes it: three
    // files and an index.
    in = TempDir("bytes_synthetic_hf");
    SyntheticSpec spec;
    spec.max_file_bytes = 100000;
    ASSERT_TRUE(WriteSyntheticCheckpoint(in, spec, 2).ok());
  }
  const std::string out = TempDir(absl::StrCat("bytes_", c.model, c.tp));
  auto summary = Compress(in, out, c.tp);
  ASSERT_TRUE(summary.ok()) << summary.status();
  std::vector<std::string> files = {kManifestFileName};
  for (int rank = 0; rank < c.tp; ++rank) files.push_back(RankFileName(rank));
  ASSERT_EQ(files.size(), c.hashes.size());
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(FileXxh3(out + "/" + files[i]), c.hashes[i]) << files[i];
  }
}

INSTANTIATE_TEST_SUITE_P(
    Recorded, CompressBytesTest,
    ::testing::Values(
        // Recorded with the compressor of commit f0a255d.
        BytesCase{"mha", 1, {"386b1692a461b81b", "fac6efe9be4fd247"}},
        BytesCase{"mha",
                  2,
                  {"c13489469ef6b886", "9cfbcaf3fecd8a56", "5c37eea79dc17e94"}},
        BytesCase{"gqa_llama3", 1, {"b8cf4e0487e94009", "966b3eb53b4e8a5e"}},
        BytesCase{"gqa_llama3",
                  2,
                  {"6e66bccdc01663f5", "14dfcbee7effc61c", "704cc756d1138130"}},
        BytesCase{"synthetic",
                  2,
                  {"f4386bf340e2a09d", "8ffaa3842685ec90", "3625119177db0b53"}},
        // The first padded directories; recorded when padding was added.
        BytesCase{"odd_vocab",
                  2,
                  {"4357b9453a4b2fc9", "98582bff013ac6b4", "df1264385f633bd0"}},
        BytesCase{"odd_vocab",
                  3,
                  {"ee21219e90397c84", "806c695502a2c3cb", "a896b7b072528101",
                   "67a28a5e627801f9"}}),
    [](const auto& info) {
      return absl::StrCat(info.param.model, "_tp", info.param.tp);
    });

class PaddedVocabTest : public ::testing::TestWithParam<int> {};

TEST_P(PaddedVocabTest, RoundTripsWithZeroPadding) {
  const int tp = GetParam();
  const std::string hf = absl::StrCat(kGoldenRoot, "/odd_vocab");
  const std::string df11 = TempDir(absl::StrCat("odd_vocab_tp", tp));
  const std::string back = TempDir(absl::StrCat("odd_vocab_back_tp", tp));
  auto summary = Compress(hf, df11, tp);
  ASSERT_TRUE(summary.ok()) << summary.status();

  auto model = Df11Model::Open(df11);
  ASSERT_TRUE(model.ok()) << model.status();
  const Manifest& m = (*model)->manifest();
  const uint64_t rows = (389 + tp - 1) / tp;
  int padded = 0;
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    const ManifestTensor& mt = m.tensors[t];
    const bool vocab =
        mt.name == "model.embed_tokens.weight" || mt.name == "lm_head.weight";
    if (!vocab) {
      EXPECT_NE(mt.split, SplitKind::kRowsPadded) << mt.name;
      continue;
    }
    ++padded;
    EXPECT_EQ(mt.split, SplitKind::kRowsPadded) << mt.name;
    EXPECT_EQ(mt.shape, (std::vector<uint64_t>{389, 96}));
    // Every shard is [ceil(389 / tp), 96]; the real rows are the tensor's,
    // the rest zero.
    auto original = SafetensorsFile::Open(hf + "/model.safetensors");
    ASSERT_TRUE(original.ok());
    const absl::Span<const uint8_t> whole =
        (*original)->Data(*(*original)->Find(mt.name));
    const uint64_t row_bytes = 96 * 2;
    for (int rank = 0; rank < tp; ++rank) {
      EXPECT_EQ(mt.shards[rank].shape, (std::vector<uint64_t>{rows, 96}));
      std::vector<uint8_t> shard((*model)->ShardBytes(t));
      ASSERT_EQ(shard.size(), rows * row_bytes);
      ASSERT_TRUE((*model)->ReadShard(t, rank, absl::MakeSpan(shard), 1).ok());
      const uint64_t first = rank * rows;
      const uint64_t real = std::min<uint64_t>(rows, 389 - first);
      EXPECT_TRUE(std::equal(shard.begin(), shard.begin() + real * row_bytes,
                             whole.begin() + first * row_bytes))
          << mt.name << " rank " << rank;
      EXPECT_TRUE(std::all_of(shard.begin() + real * row_bytes, shard.end(),
                              [](uint8_t b) { return b == 0; }))
          << mt.name << " rank " << rank << ": padding is not zero";
    }
  }
  EXPECT_EQ(padded, 2);

  VerifyOptions verify;
  verify.threads = 2;
  verify.against = hf;
  auto report = VerifyModel(df11, verify);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->shards, report->tensors * tp);

  // Every tensor back, byte for byte (the file's header is our writer's).
  ASSERT_TRUE(DecompressModel(df11, back, 2).ok());
  auto a = SafetensorsFile::Open(hf + "/model.safetensors");
  auto b = SafetensorsFile::Open(back + "/model.safetensors");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ((*a)->tensors().size(), (*b)->tensors().size());
  for (const TensorInfo& t : (*a)->tensors()) {
    const TensorInfo* u = (*b)->Find(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(t.dtype, u->dtype) << t.name;
    EXPECT_EQ(t.shape, u->shape) << t.name;
    const auto x = (*a)->Data(t), y = (*b)->Data(*u);
    EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin(), y.end())) << t.name;
  }
}

INSTANTIATE_TEST_SUITE_P(TpSizes, PaddedVocabTest, ::testing::Values(2, 3));

// The engine's check accepts the padded shards and reports their rows, from
// the DF11 directory and from the BF16 checkpoint split on the fly alike.
TEST(PaddedVocabTest, CheckLlamaWeightsReportsPaddedDims) {
  auto golden = LoadGolden("odd_vocab");
  ASSERT_TRUE(golden.ok()) << golden.status();
  const std::string df11 = TempDir("odd_vocab_dims");
  ASSERT_TRUE(Compress(golden->dir, df11, 2).ok());
  for (int rank = 0; rank < 2; ++rank) {
    auto df11_source = OpenDf11WeightSource(df11, rank);
    ASSERT_TRUE(df11_source.ok()) << df11_source.status();
    auto hf_source = OpenHfWeightSource(golden->dir, golden->config, 2, rank);
    ASSERT_TRUE(hf_source.ok()) << hf_source.status();
    for (const WeightSource* source : {df11_source->get(), hf_source->get()}) {
      SCOPED_TRACE(absl::StrCat(source->path(), " rank ", rank));
      auto dims = CheckLlamaWeights(golden->config, *source,
                                    WorldConfig{.rank = rank, .size = 2});
      ASSERT_TRUE(dims.ok()) << dims.status();
      EXPECT_EQ(dims->vocab, 195);
      EXPECT_EQ(dims->vocab_offset, 195 * rank);
      EXPECT_EQ(dims->vocab_size, 389);
      EXPECT_EQ(dims->q_heads, 3);
      EXPECT_EQ(dims->q_head_offset, 3 * rank);
      EXPECT_EQ(dims->kv_heads, 1);
      EXPECT_EQ(dims->kv_head_offset, rank);
      EXPECT_EQ(dims->ffn, 96);
      EXPECT_STREQ(dims->lm_head, "lm_head.weight");
      auto head = source->Find("lm_head.weight");
      ASSERT_TRUE(head.ok());
      EXPECT_EQ(head->split, SplitKind::kRowsPadded);
      EXPECT_EQ(head->shard_shape, (std::vector<uint64_t>{195, 96}));
    }
    // Both sources give the same padded bytes.
    std::vector<uint16_t> x(195 * 96), y(x.size(), 0xffff);
    auto a = (*df11_source)->Payload("lm_head.weight");
    auto b = (*hf_source)->Payload("lm_head.weight");
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_TRUE(DecodeStored(*a, absl::MakeSpan(x), 1).ok());
    ASSERT_TRUE(DecodeStored(*b, absl::MakeSpan(y), 1).ok());
    EXPECT_EQ(x, y);
  }
  // At TP 3 the 2 kv heads are replicated.
  auto hf3 = OpenHfWeightSource(golden->dir, golden->config, 3, 2);
  ASSERT_TRUE(hf3.ok());
  auto dims3 = CheckLlamaWeights(golden->config, **hf3,
                                 WorldConfig{.rank = 2, .size = 3});
  ASSERT_TRUE(dims3.ok()) << dims3.status();
  EXPECT_EQ(dims3->vocab, 130);
  EXPECT_EQ(dims3->vocab_offset, 260);
  EXPECT_EQ(dims3->kv_heads, 2);
  EXPECT_EQ(dims3->kv_head_offset, 0);
}

}  // namespace
}  // namespace df11
