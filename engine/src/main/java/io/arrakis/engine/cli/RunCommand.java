package io.arrakis.engine.cli;

import io.arrakis.engine.Engine;
import io.arrakis.engine.generate.FinishReason;
import io.arrakis.engine.generate.Generation;
import io.arrakis.engine.generate.Generator;
import io.arrakis.engine.generate.TokenListener;
import io.arrakis.engine.sampling.Penalties;
import io.arrakis.engine.sampling.SamplingParams;
import io.arrakis.model.tokenizer.ChatMessage;
import io.arrakis.model.tokenizer.IncrementalDetokenizer;
import io.arrakis.model.tokenizer.ModelTokenizer;
import io.arrakis.model.tokenizer.StopLimits;
import io.arrakis.model.tokenizer.StopMatcher;
import io.arrakis.model.tokenizer.StopStrings;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code model run}: generate from a prompt, streaming to the terminal, then prefill and decode
 * speed.
 */
@Command(
    name = "run",
    mixinStandardHelpOptions = true,
    description =
        "Generate from a prompt in process, streaming the completion to the terminal (text through the "
            + "model's tokenizer; ids with --show-ids or when the model has no tokenizer.json), then prefill and decode "
            + "tokens/s on standard error.")
final class RunCommand implements Callable<Integer> {
  @Mixin EngineFlags flags;

  @ArgGroup(exclusive = true, multiplicity = "1")
  PromptForm prompt;

  static final class PromptForm {
    @Option(names = "--prompt", description = "Prompt text (encoded without added special tokens).")
    String text;

    @Option(
        names = "--chat",
        description =
            "A user message, rendered with the model's chat template and the generation prompt.")
    String chat;

    @Option(names = "--ids", description = "Prompt token ids, e.g. 1,85,91.")
    String ids;
  }

  @Option(names = "--system", description = "A system message before --chat.")
  String system;

  @Option(
      names = "--max-tokens",
      defaultValue = "64",
      description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
  int maxTokens;

  @Option(
      names = "--temperature",
      defaultValue = "0",
      description = "0 for greedy (default: ${DEFAULT-VALUE}).")
  float temperature;

  @Option(
      names = "--top-p",
      defaultValue = "1",
      description = "Nucleus sampling mass (default: ${DEFAULT-VALUE}).")
  float topP;

  @Option(
      names = "--top-k",
      defaultValue = "0",
      description = "Sample from the k most likely tokens, 0: all (default: ${DEFAULT-VALUE}).")
  int topK;

  @Option(names = "--seed", description = "Sampling seed (same seed, same tokens).")
  Long seed;

  @Option(names = "--stop", description = "A stop string (repeatable): the text ends before it.")
  List<String> stop = new ArrayList<>();

  @Option(names = "--ignore-eos", description = "Do not stop at the end-of-sequence token.")
  boolean ignoreEos;

  @Option(
      names = "--presence-penalty",
      defaultValue = "0",
      description =
          "Subtracted from the logit of every token generated so far, -2 to 2 (default: ${DEFAULT-VALUE}).")
  float presencePenalty;

  @Option(
      names = "--frequency-penalty",
      defaultValue = "0",
      description =
          "Subtracted from a token's logit once per time it was generated, -2 to 2 (default: ${DEFAULT-VALUE}).")
  float frequencyPenalty;

  @Option(
      names = "--repetition-penalty",
      defaultValue = "1",
      description =
          "Divides the positive logits (multiplies the negative) of tokens in the prompt or the output, "
              + "above 0 to 10; 1: none (default: ${DEFAULT-VALUE}).")
  float repetitionPenalty;

  @Option(names = "--show-ids", description = "Stream token ids rather than text.")
  boolean showIds;

  @Option(
      names = "--prefill-chunk",
      defaultValue = "0",
      description = "Prefill at most this many tokens a step, 0: all (default: ${DEFAULT-VALUE}).")
  int prefillChunk;

  @Override
  public Integer call() throws Exception {
    PrintStream out = System.out;
    ModelTokenizer tokenizer = flags.tokenizer();
    try (Engine engine = flags.load()) {
      int[] ids = promptIds(tokenizer);
      Set<Integer> eos =
          tokenizer == null
              ? Set.of()
              : new HashSet<>(tokenizer.generationDefaults().eosTokenIds());
      SamplingParams params =
          new SamplingParams(
              maxTokens,
              temperature,
              topK,
              topP,
              seed == null ? OptionalLong.empty() : OptionalLong.of(seed),
              Set.of(),
              eos,
              ignoreEos,
              0,
              -1,
              new Penalties(presencePenalty, frequencyPenalty, repetitionPenalty),
              Map.of());
      boolean text = tokenizer != null && !showIds;
      if (!text && !stop.isEmpty()) {
        throw new IllegalArgumentException(
            "--stop needs text output (a tokenizer.json, no --show-ids)");
      }
      IncrementalDetokenizer detokenizer = text ? tokenizer.newDetokenizer(true) : null;
      StopMatcher matcher = StopStrings.of(stop, StopLimits.DEFAULT).newMatcher();
      TokenListener listener =
          t -> {
            if (!text) {
              out.print(t + " ");
              out.flush();
              return Optional.empty();
            }
            out.print(matcher.feed(detokenizer.next(t)));
            out.flush();
            return matcher.stopped() ? Optional.of(FinishReason.STOP) : Optional.empty();
          };
      Generation g = new Generator(engine, prefillChunk).generate(ids, params, listener);
      if (text && !matcher.stopped()) {
        out.print(matcher.feed(detokenizer.flush()));
        out.print(matcher.flush());
      }
      out.println();
      System.err.printf(
          "prefill %d tokens: %.1f tokens/s; decode %d tokens: %.1f tokens/s; finish: %s%n",
          g.promptTokens(),
          g.prefillTokensPerSecond(),
          g.tokens().length,
          g.decodeTokensPerSecond(),
          g.finishReason().wire());
    } finally {
      if (tokenizer != null) {
        tokenizer.close();
      }
    }
    return 0;
  }

  private int[] promptIds(ModelTokenizer tokenizer) {
    if (prompt.ids != null) {
      return Prompts.parseIds(prompt.ids);
    }
    if (tokenizer == null) {
      throw new IllegalArgumentException(flags.model + " has no tokenizer.json: give --ids");
    }
    int[] ids;
    if (prompt.text != null) {
      ids = tokenizer.encodePrompt(prompt.text);
    } else {
      List<ChatMessage> chat = new ArrayList<>();
      if (system != null) {
        chat.add(new ChatMessage("system", system));
      }
      chat.add(new ChatMessage("user", prompt.chat));
      ids = tokenizer.encodeChat(chat);
    }
    if (ids.length == 0) {
      throw new IllegalArgumentException("the prompt encodes to no tokens");
    }
    return ids;
  }
}
