package io.arrakis.engine.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

/** Copies of reference checkpoints with their files edited, for tests of what loading refuses. */
public final class Checkpoints {
  private static final ObjectMapper JSON = new ObjectMapper();

  private Checkpoints() {}

  /** Copies reference model {@code name} into {@code dir}. */
  public static Path copy(String name, Path dir) throws IOException {
    Path src = ReferenceModels.dir(name);
    for (String f :
        new String[] {
          "config.json",
          "model.safetensors",
          "generation_config.json",
          "tokenizer.json",
          "tokenizer_config.json"
        }) {
      Files.copy(src.resolve(f), dir.resolve(f));
    }
    return dir;
  }

  /** Edits config.json. */
  public static void editConfig(Path dir, Consumer<ObjectNode> edit) throws IOException {
    ObjectNode o = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
    edit.accept(o);
    Files.writeString(dir.resolve("config.json"), o.toString());
  }

  /** Edits a safetensors file's header (tensor entries), keeping its data section. */
  public static void editHeader(Path file, Consumer<ObjectNode> edit) throws IOException {
    byte[] all = Files.readAllBytes(file);
    long len = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    ObjectNode header =
        (ObjectNode) JSON.readTree(new String(all, 8, (int) len, StandardCharsets.UTF_8));
    edit.accept(header);
    byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
    ByteBuffer out =
        ByteBuffer.allocate(8 + h.length + all.length - 8 - (int) len)
            .order(ByteOrder.LITTLE_ENDIAN);
    out.putLong(h.length).put(h).put(all, 8 + (int) len, all.length - 8 - (int) len);
    Files.write(file, out.array());
  }
}
