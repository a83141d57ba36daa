// SentenceClassifier: shapes for every pooling and implementation, padding
// that changes nothing, frozen and two-channel embeddings, loaded vectors,
// attention weights, bad input, and a small task it must learn.
#include "modules/classifier.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace rnnlab {
namespace {

SentenceClassifier make_classifier(const std::string& pooling, Implementation impl,
                                   bool bidirectional, int64_t layers = 1,
                                   CellType type = CellType::kLSTM, int64_t classes = 3) {
  return SentenceClassifier(
      SentenceClassifierOptions(
          20, 6, classes,
          RecurrentOptions(type, 6, 5).impl(impl).bidirectional(bidirectional).num_layers(layers))
          .pooling(pooling)
          .dropout(0.3));
}

TEST(SentenceClassifier, PaddingChangesNothing) {
  // Each sentence scored alone (no padding) equals its row in a padded batch,
  // for every pooling, both implementations, uni- and bidirectional.
  torch::manual_seed(0);
  torch::Tensor tokens =
      torch::tensor({{3, 4, 5}, {7, 8, 0}, {9, 0, 0}}, torch::kLong).t();  // (T, B)
  torch::Tensor lengths = torch::tensor({3, 2, 1}, torch::kLong);
  for (const char* pooling : {"last", "mean", "max", "attention", "concat"})
    for (Implementation impl : {Implementation::kCustom, Implementation::kBuiltin})
      for (bool bi : {false, true}) {
        SentenceClassifier m = make_classifier(pooling, impl, bi, 2, CellType::kGRU);
        m->eval();
        torch::Tensor batch = m(tokens, lengths);
        ASSERT_EQ(batch.sizes(), torch::IntArrayRef({3, 3}));
        for (int64_t b = 0; b < 3; ++b) {
          int64_t len = lengths[b].item<int64_t>();
          torch::Tensor alone =
              m(tokens.index({torch::indexing::Slice(0, len), torch::indexing::Slice(b, b + 1)}),
                torch::tensor({len}, torch::kLong));
          EXPECT_TRUE(torch::allclose(alone[0], batch[b], 1e-5, 1e-6))
              << pooling << " " << impl << (bi ? " bidirectional" : "") << " row " << b;
        }
      }
}

TEST(SentenceClassifier, AttentionWeightsAreADistributionOverValidSteps) {
  torch::manual_seed(1);
  SentenceClassifier m = make_classifier("attention", Implementation::kCustom, true);
  m->eval();
  torch::Tensor tokens = torch::tensor({{3, 4, 5, 6}, {7, 8, 0, 0}}, torch::kLong).t();
  m(tokens, torch::tensor({4, 2}, torch::kLong));
  torch::Tensor a = m->attention_weights();
  ASSERT_EQ(a.sizes(), torch::IntArrayRef({4, 2}));
  EXPECT_TRUE(torch::allclose(a.sum(0), torch::ones({2})));
  EXPECT_EQ(a[2][1].item<float>(), 0.0f);
  EXPECT_EQ(a[3][1].item<float>(), 0.0f);
}

TEST(SentenceClassifier, FrozenTwoChannelAndLoadedEmbeddings) {
  torch::manual_seed(2);
  RecurrentOptions rnn(CellType::kLSTM, 12, 5);
  SentenceClassifier two(SentenceClassifierOptions(20, 6, 2, rnn).two_channels(true));
  EXPECT_FALSE(two->static_embedding->weight.requires_grad());
  EXPECT_TRUE(two->embedding->weight.requires_grad());
  EXPECT_EQ(two->embedding->weight[0].abs().sum().item<float>(), 0.0f);  // padding row

  torch::Tensor vectors = torch::full({20, 6}, 0.5);
  std::vector<bool> covered(20, false);
  covered[3] = covered[4] = true;
  torch::Tensor before = two->embedding->weight[5].clone();
  two->load_embedding(vectors, covered);
  EXPECT_TRUE(torch::equal(two->embedding->weight[3], vectors[3]));
  EXPECT_TRUE(torch::equal(two->static_embedding->weight[4], vectors[4]));
  EXPECT_TRUE(torch::equal(two->embedding->weight[5], before));

  SentenceClassifier frozen(
      SentenceClassifierOptions(20, 6, 2, RecurrentOptions(CellType::kRNN, 6, 5))
          .freeze_embedding(true));
  torch::Tensor tokens = torch::tensor({{3, 4}}, torch::kLong).t();
  frozen(tokens, torch::tensor({2}, torch::kLong)).sum().backward();
  EXPECT_FALSE(frozen->embedding->weight.grad().defined());
  EXPECT_TRUE(frozen->output->weight.grad().defined());
}

TEST(SentenceClassifier, FixedWordsReadTheirVectorsAndAreNeverTrained) {
  // 20 ids, the last 5 fixed: tables of 15 rows, a (5, 6) buffer.
  torch::manual_seed(4);
  for (bool two : {false, true}) {
    SentenceClassifier m(
        SentenceClassifierOptions(20, 6, 2, RecurrentOptions(CellType::kGRU, two ? 12 : 6, 5))
            .two_channels(two)
            .fixed_words(5)
            .pooling("max"));
    EXPECT_EQ(m->embedding->weight.size(0), 15);
    EXPECT_EQ(m->fixed_vectors.sizes(), (std::vector<int64_t>{5, 6}));
    torch::Tensor vectors = torch::arange(120, torch::kFloat).view({20, 6}) / 100;
    std::vector<bool> covered(20, true);
    covered[16] = false;  // keeps its random start
    torch::Tensor random16 = m->fixed_vectors[1].clone();
    m->load_embedding(vectors, covered);
    EXPECT_TRUE(torch::equal(m->fixed_vectors[0], vectors[15]));
    EXPECT_TRUE(torch::equal(m->fixed_vectors[1], random16));
    EXPECT_TRUE(torch::equal(m->embedding->weight[14], vectors[14]));

    // A fixed word gives exactly what the same vector in a trained row gives.
    SentenceClassifier plain(
        SentenceClassifierOptions(20, 6, 2, RecurrentOptions(CellType::kGRU, two ? 12 : 6, 5))
            .two_channels(two)
            .pooling("max"));
    {
      torch::NoGradGuard g;
      for (auto& p : plain->named_parameters()) {
        if (p.key().find("embedding") != std::string::npos) continue;
        p.value().copy_(m->named_parameters()[p.key()]);
      }
      for (auto* e : {&plain->embedding, &plain->static_embedding}) {
        if (!*e) continue;
        (*e)->weight.narrow(0, 0, 15).copy_(m->embedding->weight);
        (*e)->weight.narrow(0, 15, 5).copy_(m->fixed_vectors);
      }
    }
    m->eval();
    plain->eval();
    torch::Tensor tokens = torch::tensor({{3, 17, 19}, {15, 4, 0}}, torch::kLong).t();
    torch::Tensor lengths = torch::tensor({3, 2}, torch::kLong);
    EXPECT_TRUE(torch::allclose(m(tokens, lengths), plain(tokens, lengths), 1e-6, 1e-6));

    // Training reaches the table rows of the trained words only.
    m->train();
    m(tokens, lengths).sum().backward();
    torch::Tensor g = m->embedding->weight.grad();
    EXPECT_GT(g[3].abs().sum().item<float>(), 0);
    EXPECT_EQ(g[0].abs().sum().item<float>(), 0);  // the stand-in row of the fixed words
    EXPECT_FALSE(m->fixed_vectors.requires_grad());
    bool fixed_in_parameters = false;
    for (const auto& p : m->parameters()) fixed_in_parameters |= p.is_same(m->fixed_vectors);
    EXPECT_FALSE(fixed_in_parameters);
  }
  EXPECT_THROW(
      SentenceClassifier(SentenceClassifierOptions(20, 6, 2, RecurrentOptions(CellType::kGRU, 6, 5))
                             .fixed_words(19)),
      std::invalid_argument);
}

// BPT3C: texts read in chunks with the state carried give the logits and,
// with every chunk in the graph, the gradients of texts read at once; with
// grad_chunks, the same logits and a gradient from the last chunks only.
TEST(SentenceClassifier, ChunkedReadingEqualsReadingAtOnce) {
  torch::manual_seed(3);
  const int64_t T = 23, B = 6;
  torch::Tensor lengths = torch::tensor({23, 5, 17, 1, 9, 12}, torch::kLong);
  torch::Tensor tokens = torch::randint(1, 20, {T, B}, torch::kLong);
  tokens.masked_fill_(torch::arange(T).unsqueeze(1) >= lengths.unsqueeze(0), 0);
  for (const char* pooling : {"last", "mean", "max", "concat"})
    for (Implementation impl : {Implementation::kCustom, Implementation::kBuiltin})
      for (int64_t chunk : {1, 4, 7}) {
        auto options = [&](int64_t c, int64_t g) {
          return SentenceClassifierOptions(
                     20, 6, 3, RecurrentOptions(CellType::kLSTM, 6, 5).impl(impl).num_layers(2))
              .pooling(pooling)
              .dropout(0.0)
              .chunk(c)
              .grad_chunks(g);
        };
        std::string what = std::string(pooling) + " chunk " + std::to_string(chunk);
        torch::manual_seed(1);
        SentenceClassifier whole(options(0, 0));
        torch::manual_seed(1);
        SentenceClassifier chunked(options(chunk, 0));
        torch::Tensor a = whole(tokens, lengths), b = chunked(tokens, lengths);
        ASSERT_TRUE(torch::allclose(a, b, 1e-5, 1e-6)) << what << "\n" << a << "\n" << b;
        a.pow(2).sum().backward();
        b.pow(2).sum().backward();
        auto pw = whole->named_parameters(), pc = chunked->named_parameters();
        for (const auto& p : pw) {
          ASSERT_TRUE(p.value().grad().defined()) << p.key();
          EXPECT_TRUE(torch::allclose(p.value().grad(), pc[p.key()].grad(), 1e-4, 1e-6))
              << what << " " << p.key();
        }
        // Only the last chunk in the graph: the same logits, a smaller gradient.
        torch::manual_seed(1);
        SentenceClassifier last_only(options(chunk, 1));
        torch::Tensor c = last_only(tokens, lengths);
        EXPECT_TRUE(torch::allclose(a, c, 1e-5, 1e-6)) << what;
        c.pow(2).sum().backward();
        torch::Tensor g = last_only->named_parameters()["encoder.rnn.weight_hh_l0"].grad();
        EXPECT_FALSE(torch::allclose(g, pw["encoder.rnn.weight_hh_l0"].grad(), 1e-4, 1e-6)) << what;
      }
}

TEST(SentenceClassifier, BadInputIsAOneLineError) {
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] {
              SentenceClassifier(
                  SentenceClassifierOptions(20, 6, 2, RecurrentOptions(CellType::kLSTM, 7, 5)));
            }).find("input_size is 7, the embedding gives 6"),
            std::string::npos);
  EXPECT_NE(message([] {
              SentenceClassifier(
                  SentenceClassifierOptions(20, 6, 2, RecurrentOptions(CellType::kLSTM, 6, 5))
                      .pooling("sum"));
            }).find("pooling must be"),
            std::string::npos);
  for (const char* pooling : {"last", "attention"})
    EXPECT_NE(message([&] {
                SentenceClassifier(
                    SentenceClassifierOptions(20, 6, 2,
                                              RecurrentOptions(CellType::kLSTM, 6, 5)
                                                  .bidirectional(std::string(pooling) == "last"))
                        .pooling(pooling)
                        .chunk(10));
              }).find("chunk"),
              std::string::npos)
        << pooling;
  SentenceClassifier m = make_classifier("mean", Implementation::kCustom, false);
  torch::Tensor tokens = torch::tensor({{3, 4}}, torch::kLong).t();
  EXPECT_NE(message([&] { m(tokens, torch::tensor({3}, torch::kLong)); }).find("every length"),
            std::string::npos);
  EXPECT_NE(message([&] {
              m(tokens.to(torch::kInt), torch::tensor({2}, torch::kLong));
            }).find("expected tokens"),
            std::string::npos);
}

TEST(SentenceClassifier, LearnsWhetherAWordOccurs) {
  // Class 1 iff token 2 appears somewhere in a random sentence of 3..8 tokens.
  torch::manual_seed(3);
  const int64_t N = 256, T = 8;
  torch::Tensor lengths = torch::randint(3, T + 1, {N}, torch::kLong);
  torch::Tensor tokens = torch::randint(3, 20, {T, N}, torch::kLong);
  torch::Tensor plant = torch::rand({N}) < 0.5;
  torch::Tensor where = (torch::rand({N}) * lengths.to(torch::kFloat)).to(torch::kLong);
  for (int64_t b = 0; b < N; ++b) {
    if (plant[b].item<bool>()) tokens[where[b].item<int64_t>()][b] = 2;
    for (int64_t t = lengths[b].item<int64_t>(); t < T; ++t) tokens[t][b] = 0;
  }
  torch::Tensor labels = (tokens == 2).any(0).to(torch::kLong);
  SentenceClassifier m =
      make_classifier("max", Implementation::kCustom, true, 1, CellType::kLSTM, 2);
  torch::optim::Adam opt(m->parameters(), 0.02);
  for (int step = 0; step < 150; ++step) {
    opt.zero_grad();
    torch::Tensor loss = torch::cross_entropy_loss(m(tokens, lengths), labels);
    loss.backward();
    opt.step();
  }
  m->eval();
  double accuracy =
      (m(tokens, lengths).argmax(1) == labels).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(accuracy, 0.95);
}

TEST(SequenceClassifier, ReadsTheFinalStateOfEachDirection) {
  torch::manual_seed(4);
  SequenceClassifier model(SequenceClassifierOptions(
      RecurrentOptions(CellType::kGRU, 3, 5).num_layers(2).bidirectional(true), 4));
  model->eval();
  torch::Tensor x = torch::randn({6, 2, 3});
  torch::Tensor logits = model(x);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{2, 4}));
  // p = [h_T forward; h_1 backward] of the last layer: the output's last step
  // forward half and first step backward half.
  auto [out, state] = model->encoder(x);
  (void)state;
  torch::Tensor p = torch::cat({out[5].narrow(1, 0, 5), out[0].narrow(1, 5, 5)}, 1);
  EXPECT_TRUE(torch::allclose(logits, model->output(p), 1e-6, 1e-6));
  // gradients reach every parameter
  model->train();
  model(x).sum().backward();
  for (const auto& param : model->named_parameters())
    EXPECT_TRUE(param.value().grad().defined()) << param.key();
}

TEST(SequenceClassifier, RefusesBadOptionsAndShapes) {
  EXPECT_THROW(
      SequenceClassifier(SequenceClassifierOptions(RecurrentOptions(CellType::kLSTM, 3, 5), 1)),
      std::invalid_argument);
  SequenceClassifier model(SequenceClassifierOptions(RecurrentOptions(CellType::kLSTM, 3, 5), 10));
  try {
    model(torch::randn({4, 2, 7}));
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "SequenceClassifier: expected input (T, B, 3), got [4, 2, 7] Float");
  }
}

}  // namespace
}  // namespace rnnlab
