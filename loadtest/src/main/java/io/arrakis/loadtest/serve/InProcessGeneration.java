package io.arrakis.loadtest.serve;

import io.arrakis.engine.Engine;
import io.arrakis.engine.EngineOptions;
import io.arrakis.engine.generate.Generation;
import io.arrakis.engine.generate.Generator;
import io.arrakis.engine.generate.TokenListener;
import io.arrakis.engine.sampling.SamplingParams;
import io.arrakis.model.tokenizer.ChatMessage;
import io.arrakis.model.tokenizer.ModelTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The same model generating in one process (every expert local), as the cluster's baseline: batches
 * of {@code concurrency} random prompts, prefilled in chunks and decoded together, one batch after
 * another; output tokens per second over the measured batches.
 */
public final class InProcessGeneration {
  /**
   * The measured batches' output.
   *
   * @param tokensPerS output tokens per second of the measured batches
   * @param batches batches measured
   */
  public record Result(double tokensPerS, int batches, long tokens, double seconds) {}

  private InProcessGeneration() {}

  public static Result run(
      Path model,
      int concurrency,
      int promptTokens,
      int outputTokens,
      int prefillChunk,
      Duration warmup,
      Duration duration,
      long seed)
      throws IOException {
    try (Engine engine = Engine.load(model, EngineOptions.DEFAULT.withKvCacheBytes(512L << 20))) {
      Generator generator = new Generator(engine, prefillChunk);
      SamplingParams greedy = SamplingParams.greedy(outputTokens, Set.of()).withIgnoreEos(true);
      SplittableRandom random = new SplittableRandom(seed);
      int vocab = engine.config().vocabSize();
      long warmUntil = System.nanoTime() + warmup.toNanos();
      while (System.nanoTime() < warmUntil) {
        batch(generator, random, vocab, concurrency, promptTokens, greedy);
      }
      long start = System.nanoTime();
      long until = start + duration.toNanos();
      long tokens = 0;
      int batches = 0;
      while (System.nanoTime() < until || batches == 0) {
        tokens += batch(generator, random, vocab, concurrency, promptTokens, greedy);
        batches++;
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      return new Result(tokens / seconds, batches, tokens, seconds);
    }
  }

  private static long batch(
      Generator generator,
      SplittableRandom random,
      int vocab,
      int concurrency,
      int promptTokens,
      SamplingParams params) {
    List<int[]> prompts = new ArrayList<>();
    for (int i = 0; i < concurrency; i++) {
      int[] p = new int[promptTokens];
      for (int j = 0; j < p.length; j++) {
        p[j] = random.nextInt(vocab);
      }
      prompts.add(p);
    }
    long n = 0;
    for (Generation g :
        generator.generateAll(
            prompts, params, Collections.nCopies(concurrency, TokenListener.NONE))) {
      n += g.tokens().length;
    }
    return n;
  }

  /**
   * The tokens the model of {@code dir}, in this process, generates greedily for one user message
   * rendered with its chat template (eos ends it, as it does on a router): what a cluster's greedy
   * chat completion of the same message must stream.
   */
  public static Generation greedyChat(Path dir, String message, int maxTokens) throws IOException {
    try (ModelTokenizer tokenizer = ModelTokenizer.open(dir);
        Engine engine = Engine.load(dir, EngineOptions.DEFAULT.withKvCacheBytes(64L << 20))) {
      int[] prompt = tokenizer.encodeChat(List.of(new ChatMessage("user", message)));
      SamplingParams greedy =
          SamplingParams.greedy(
              maxTokens, Set.copyOf(tokenizer.generationDefaults().eosTokenIds()));
      return new Generator(engine, 0).generate(prompt, greedy, t -> Optional.empty());
    }
  }
}
