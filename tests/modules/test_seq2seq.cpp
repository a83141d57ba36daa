// Seq2Seq: shapes for every attention and option, padding invariance, the
// all-steps-at-once decoder against the step-by-step one, attention weights,
// beam search against brute force, scheduled sampling, bad options, and a
// copy task it must learn.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>

#include "modules/seq2seq.h"

namespace rnnlab {
namespace {

Seq2Seq make_seq2seq(CellType type, const std::string& attention, bool feeding = false,
                     bool tie = false, bool bi = true, int64_t layers = 1) {
  torch::manual_seed(3);
  const int64_t E = 8, He = 6, Hd = attention == "luong_dot" ? (bi ? 12 : 6) : 10;
  auto o = Seq2SeqOptions(11, 9, RecurrentOptions(type, E, He).bidirectional(bi).num_layers(layers),
                          RecurrentOptions(type, E, Hd).num_layers(layers))
               .attention(attention)
               .input_feeding(feeding)
               .tie_embeddings(tie)
               .attentional_size(tie ? E : 0)
               .dropout(0.0);
  return Seq2Seq(o);
}

// Sources of lengths 4, 2, 3 (padded with 0) and targets <bos> + 3 tokens.
torch::Tensor src() {
  return torch::tensor({{4, 5, 6}, {7, 8, 9}, {5, 0, 4}, {6, 0, 0}}, torch::kLong);
}
torch::Tensor src_len() {
  return torch::tensor({4, 2, 3}, torch::kLong);
}
torch::Tensor tgt_in() {
  return torch::tensor({{2, 2, 2}, {4, 5, 6}, {7, 4, 5}, {8, 6, 4}}, torch::kLong);
}

const char* kAttentions[] = {"none", "bahdanau", "luong_dot", "luong_general"};

TEST(Seq2Seq, ShapesForEveryAttentionAndOption) {
  for (CellType type : {CellType::kLSTM, CellType::kGRU, CellType::kRNN})
    for (const char* att : kAttentions)
      for (bool feeding : {false, true})
        for (bool tie : {false, true}) {
          if (tie && std::string(att) == "luong_dot") continue;
          SCOPED_TRACE(to_string(type) + " " + att + (feeding ? " feeding" : "") +
                       (tie ? " tied" : ""));
          Seq2Seq m = make_seq2seq(type, att, feeding, tie);
          torch::Tensor logits = m->forward(src(), src_len(), tgt_in());
          EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{4, 3, 9}));
          logits.sum().backward();
          EXPECT_TRUE(m->src_embedding->weight.grad().defined());
        }
}

TEST(Seq2Seq, TwoLayersAndLayerCountsThatDiffer) {
  Seq2Seq m = make_seq2seq(CellType::kLSTM, "bahdanau", false, false, true, 2);
  EXPECT_EQ(m->forward(src(), src_len(), tgt_in()).size(2), 9);
  torch::manual_seed(1);
  Seq2Seq n(Seq2SeqOptions(11, 9, RecurrentOptions(CellType::kGRU, 8, 6).num_layers(3),
                           RecurrentOptions(CellType::kGRU, 8, 10).num_layers(1)));
  EXPECT_EQ(n->forward(src(), src_len(), tgt_in()).size(0), 4);
}

TEST(Seq2Seq, EachSentenceAloneEqualsItsColumnInThePaddedBatch) {
  for (const char* att : kAttentions)
    for (bool feeding : {false, true}) {
      SCOPED_TRACE(std::string(att) + (feeding ? " feeding" : ""));
      Seq2Seq m = make_seq2seq(CellType::kLSTM, att, feeding);
      m->eval();
      torch::Tensor batch = m->forward(src(), src_len(), tgt_in());
      for (int64_t b = 0; b < 3; ++b) {
        int64_t len = src_len()[b].item<int64_t>();
        torch::Tensor one = m->forward(src().narrow(0, 0, len).narrow(1, b, 1),
                                       src_len().narrow(0, b, 1), tgt_in().narrow(1, b, 1));
        EXPECT_TRUE(torch::allclose(one.squeeze(1), batch.select(1, b), 1e-5, 1e-5)) << b;
      }
    }
}

TEST(Seq2Seq, AllStepsAtOnceEqualsStepByStep) {
  for (const char* att : kAttentions) {
    SCOPED_TRACE(att);
    Seq2Seq m = make_seq2seq(CellType::kGRU, att);
    m->eval();
    torch::Tensor fast = m->forward(src(), src_len(), tgt_in());
    EncoderOutput enc = m->encode(src(), src_len());
    DecoderState st = m->start(enc);
    for (int64_t t = 0; t < 4; ++t) {
      torch::Tensor a;
      torch::Tensor logits = m->step(tgt_in()[t], st, enc, &a);
      EXPECT_TRUE(torch::allclose(logits, fast[t], 1e-5, 1e-5)) << t;
      // Attention is a distribution over each sentence's real source tokens.
      if (std::string(att) == "none") continue;
      EXPECT_TRUE(torch::allclose(a.sum(0), torch::ones({3}), 1e-5, 1e-5));
      EXPECT_EQ(a[3][1].item<float>(), 0.0f);
      EXPECT_EQ(a[2][1].item<float>(), 0.0f);
      EXPECT_EQ(a[3][2].item<float>(), 0.0f);
    }
  }
}

TEST(Seq2Seq, ScheduledSamplingFollowsItsRatioAndSeed) {
  Seq2Seq m = make_seq2seq(CellType::kGRU, "bahdanau");
  m->eval();
  torch::Tensor gold = m->forward(src(), src_len(), tgt_in());
  auto run = [&](double ratio, uint64_t seed) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    return m->forward(src(), src_len(), tgt_in(), ratio, gen);
  };
  EXPECT_TRUE(torch::allclose(run(1e-9, 1), gold, 1e-5, 1e-5));
  EXPECT_TRUE(run(1.0, 1).equal(run(1.0, 2))) << "ratio 1 always feeds the argmax";
  EXPECT_TRUE(run(0.5, 7).equal(run(0.5, 7)));
  EXPECT_TRUE(torch::allclose(run(1.0, 1)[0], gold[0])) << "step 0 reads <bos> either way";
  EXPECT_FALSE(torch::allclose(run(1.0, 1), gold, 1e-4, 1e-4));
}

TEST(Seq2Seq, BadOptionsAreRefused) {
  auto build = [](Seq2SeqOptions o) { Seq2Seq m(o); };
  RecurrentOptions enc(CellType::kGRU, 8, 6), dec(CellType::kGRU, 8, 10);
  EXPECT_THROW(build(Seq2SeqOptions(11, 9, enc, dec).attention("dot")), std::invalid_argument);
  EXPECT_THROW(build(Seq2SeqOptions(11, 9, enc, dec).attention("luong_dot")),
               std::invalid_argument);
  EXPECT_THROW(build(Seq2SeqOptions(11, 9, enc, dec).tie_embeddings(true)), std::invalid_argument);
  EXPECT_THROW(build(Seq2SeqOptions(11, 9, RecurrentOptions(CellType::kLSTM, 8, 6), dec)),
               std::invalid_argument);
  EXPECT_THROW(build(Seq2SeqOptions(11, 9, enc, RecurrentOptions(dec).bidirectional(true))),
               std::invalid_argument);
  Seq2Seq m = make_seq2seq(CellType::kGRU, "bahdanau");
  EXPECT_THROW(m->encode(src(), torch::tensor({4, 0, 3}, torch::kLong)), std::invalid_argument);
}

// Log-probability of `tokens` then <eos> for source column b, by teacher forcing.
double sequence_log_prob(Seq2Seq& m, int64_t b, const std::vector<int64_t>& tokens) {
  std::vector<int64_t> in = {2};
  in.insert(in.end(), tokens.begin(), tokens.end());
  int64_t len = src_len()[b].item<int64_t>();
  torch::Tensor logits =
      m->forward(src().narrow(0, 0, len).narrow(1, b, 1), src_len().narrow(0, b, 1),
                 torch::tensor(in, torch::kLong).view({-1, 1}));
  torch::Tensor lp = torch::log_softmax(logits.squeeze(1).to(torch::kDouble), 1);
  double total = 0;
  for (size_t t = 0; t < in.size(); ++t)
    total += lp[static_cast<int64_t>(t)][t < tokens.size() ? tokens[t] : 3].item<double>();
  return total;
}

TEST(Seq2Seq, WideBeamFindsTheBestSequenceBruteForceFinds) {
  // Target vocabulary of 6: <pad> <unk> <bos> <eos> and two words; at most
  // two tokens before <eos> (max_len_b 3): 1 + 4 + 16 sequences.
  torch::manual_seed(5);
  Seq2Seq m(Seq2SeqOptions(11, 6, RecurrentOptions(CellType::kGRU, 8, 6).bidirectional(true),
                           RecurrentOptions(CellType::kGRU, 8, 10))
                .dropout(0.0));
  m->eval();
  torch::NoGradGuard no_grad;
  DecodeOptions opt;
  opt.beam = 16;
  opt.length_penalty = 0;
  opt.max_len_a = 0;
  opt.max_len_b = 3;
  auto hyps = translate_batch(m, src(), src_len(), opt);
  for (int64_t b = 0; b < 3; ++b) {
    double best = -1e30;
    std::vector<int64_t> best_seq;
    const std::vector<int64_t> words = {1, 3, 4, 5};  // not <pad>, not <bos>; <eos> ends
    std::function<void(std::vector<int64_t>)> walk = [&](std::vector<int64_t> seq) {
      double lp = sequence_log_prob(m, b, seq);
      if (lp > best) best = lp, best_seq = seq;
      if (seq.size() == 2) return;
      for (int64_t w : words) {
        if (w == 3) continue;
        auto longer = seq;
        longer.push_back(w);
        walk(longer);
      }
    };
    walk({});
    EXPECT_EQ(hyps[b].tokens, best_seq) << b;
    EXPECT_NEAR(hyps[b].log_prob, best, 1e-4) << b;
    EXPECT_EQ(hyps[b].attention.size(), best_seq.size() + 1);
  }
  // Beam 1 is greedy: each step's argmax.
  opt.beam = 1;
  auto greedy = translate_batch(m, src(), src_len(), opt);
  for (int64_t b = 0; b < 3; ++b) EXPECT_LE(greedy[b].log_prob, hyps[b].log_prob + 1e-6);
}

TEST(Seq2Seq, LearnsToReverseSequencesWithAttention) {
  // Source: 3-6 symbols from 4..11; target: the same symbols reversed.
  torch::manual_seed(11);
  Seq2Seq m(Seq2SeqOptions(12, 12, RecurrentOptions(CellType::kGRU, 16, 32).bidirectional(true),
                           RecurrentOptions(CellType::kGRU, 16, 32))
                .attention("luong_general")
                .dropout(0.0));
  torch::optim::Adam adam(m->parameters(), 0.01);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(17);
  auto batch = [&](int64_t B) {
    torch::Tensor len = torch::randint(3, 7, {B}, gen, torch::kLong);
    int64_t S = len.max().item<int64_t>();
    torch::Tensor s = torch::zeros({S, B}, torch::kLong),
                  in = torch::zeros({S + 1, B}, torch::kLong),
                  out = torch::zeros({S + 1, B}, torch::kLong);
    torch::Tensor sym = torch::randint(4, 12, {S, B}, gen, torch::kLong);
    for (int64_t b = 0; b < B; ++b) {
      int64_t n = len[b].item<int64_t>();
      in[0][b] = 2;
      for (int64_t t = 0; t < n; ++t) {
        s[t][b] = sym[t][b];
        out[n - 1 - t][b] = sym[t][b];
        in[n - t][b] = sym[t][b];
      }
      out[n][b] = 3;
    }
    return std::make_tuple(s, len, in, out);
  };
  for (int step = 0; step < 300; ++step) {
    auto [s, len, in, out] = batch(32);
    torch::Tensor logits = m->forward(s, len, in);
    torch::Tensor loss = torch::nn::functional::cross_entropy(
        logits.flatten(0, 1), out.flatten(),
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(0));
    adam.zero_grad();
    loss.backward();
    adam.step();
  }
  auto [s, len, in, out] = batch(100);
  DecodeOptions opt;
  opt.beam = 3;
  auto hyps = translate_batch(m, s, len, opt);
  int right = 0;
  for (int64_t b = 0; b < 100; ++b) {
    std::vector<int64_t> want;
    for (int64_t t = 0; t < len[b].item<int64_t>(); ++t) want.push_back(out[t][b].item<int64_t>());
    right += hyps[b].tokens == want;
  }
  EXPECT_GE(right, 90) << "of 100 sequences reversed exactly";
}

}  // namespace
}  // namespace rnnlab
