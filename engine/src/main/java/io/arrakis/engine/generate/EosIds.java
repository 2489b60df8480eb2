package io.arrakis.engine.generate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * A model's end-of-sequence token ids: {@code eos_token_id} (a number or a list) of
 * generation_config.json, else of config.json. (The tokenizer adds tokenizer_config.json's
 * {@code eos_token}, which needs the vocabulary.)
 */
public final class EosIds {
  private static final ObjectMapper JSON = new ObjectMapper();

  private EosIds() {}

  public static Set<Integer> of(Path dir) throws IOException {
    for (String file : new String[] {"generation_config.json", "config.json"}) {
      Path p = dir.resolve(file);
      if (Files.exists(p)) {
        JsonNode v = JSON.readTree(p.toFile()).get("eos_token_id");
        Set<Integer> ids = new LinkedHashSet<>();
        if (v != null && v.isIntegralNumber()) {
          ids.add(v.intValue());
        } else if (v != null && v.isArray()) {
          v.forEach(e -> ids.add(e.intValue()));
        }
        if (!ids.isEmpty()) {
          return Set.copyOf(ids);
        }
      }
    }
    return Set.of();
  }
}
