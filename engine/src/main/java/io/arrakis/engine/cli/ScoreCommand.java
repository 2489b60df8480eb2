package io.arrakis.engine.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.engine.Engine;
import io.arrakis.engine.SequenceChunk;
import io.arrakis.engine.sampling.Sampler;
import io.arrakis.model.safetensors.SafetensorsWriter;
import io.arrakis.model.safetensors.StDType;
import io.arrakis.model.tokenizer.ModelTokenizer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code model score}: logits of every prompt position in one forward pass, optionally N greedy
 * tokens through the KV cache, written as the reference files are (expected.safetensors/json).
 */
@Command(
    name = "score",
    mixinStandardHelpOptions = true,
    description = {
      "Score prompts: OUT gets logits_P [len, vocab] (every position, one forward pass) and, with "
          + "--greedy N, gen_logits_P [N, vocab] (the logits each greedy token was chosen from, through the KV cache; "
          + "eos does not stop). Beside it OUT with .json: {\"prompts\": [{\"ids\": [...], \"greedy\": [...]}]}.",
      "PROMPTS.json: {\"prompts\": [{\"ids\": [...]} | {\"text\": \"...\"} | {\"chat\": [messages]}, ...]}; text "
          + "is encoded without added special tokens, a chat rendered with the model's template and the generation "
          + "prompt; the .json gives the ids used."
    })
final class ScoreCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Mixin EngineFlags flags;

  @Option(names = "--input", required = true, description = "PROMPTS.json.")
  Path input;

  @Option(
      names = "--output",
      required = true,
      description = "safetensors file to write (its .json beside it).")
  Path output;

  @Option(
      names = "--greedy",
      defaultValue = "0",
      description = "Greedy tokens per prompt (default: ${DEFAULT-VALUE}).")
  int greedy;

  @Override
  public Integer call() throws Exception {
    if (greedy < 0) {
      throw new IllegalArgumentException("--greedy must be >= 0, got " + greedy);
    }
    if (!output.getFileName().toString().endsWith(".safetensors")) {
      throw new IllegalArgumentException("--output must end in .safetensors, got " + output);
    }
    JsonNode root = JSON.readTree(Files.readAllBytes(input));
    JsonNode list = root == null ? null : root.get("prompts");
    if (list == null || !list.isArray()) {
      throw new IllegalArgumentException(input + ": expected {\"prompts\": [...]}");
    }
    List<int[]> prompts = new ArrayList<>();
    ModelTokenizer tokenizer = flags.tokenizer();
    try {
      for (int p = 0; p < list.size(); p++) {
        prompts.add(Prompts.ids(list.get(p), p, tokenizer));
      }
    } finally {
      if (tokenizer != null) {
        tokenizer.close();
      }
    }
    Map<SafetensorsWriter.Entry, ByteBuffer> tensors = new LinkedHashMap<>();
    ObjectNode out = JSON.createObjectNode();
    ArrayNode outPrompts = out.putArray("prompts");
    try (Engine engine = flags.load()) {
      int vocab = engine.config().vocabSize();
      for (int p = 0; p < prompts.size(); p++) {
        int[] ids = prompts.get(p);
        float[] logits = engine.step(List.of(new SequenceChunk(p, ids, true))).logits(0);
        engine.release(p);
        tensors.put(
            new SafetensorsWriter.Entry("logits_" + p, StDType.F32, new long[] {ids.length, vocab}),
            bytes(logits));
        ObjectNode entry = outPrompts.addObject();
        ArrayNode idsNode = entry.putArray("ids");
        for (int id : ids) {
          idsNode.add(id);
        }
        if (greedy > 0) {
          float[] gen = new float[greedy * vocab];
          ArrayNode g = entry.putArray("greedy");
          float[] next = engine.step(List.of(SequenceChunk.of(p, ids))).logits(0);
          for (int t = 0; t < greedy; t++) {
            System.arraycopy(next, 0, gen, t * vocab, vocab);
            int token = Sampler.argmax(next, 0, vocab);
            g.add(token);
            if (t + 1 < greedy) {
              next = engine.step(List.of(SequenceChunk.of(p, token))).logits(0);
            }
          }
          engine.release(p);
          tensors.put(
              new SafetensorsWriter.Entry(
                  "gen_logits_" + p, StDType.F32, new long[] {greedy, vocab}),
              bytes(gen));
        }
        System.err.printf(
            "prompt %d: %d tokens%s%n", p, ids.length, greedy > 0 ? ", " + greedy + " greedy" : "");
      }
    }
    SafetensorsWriter.write(output, tensors, Map.of("format", "pt"));
    String name = output.getFileName().toString();
    Path json =
        output.resolveSibling(name.substring(0, name.length() - ".safetensors".length()) + ".json");
    Files.writeString(json, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(out) + "\n");
    System.out.printf("wrote %s and %s: %d prompts%n", output, json, prompts.size());
    return 0;
  }

  private static ByteBuffer bytes(float[] v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    return b;
  }
}
