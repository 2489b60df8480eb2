package io.arrakis.model.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.nio.file.Path;
import java.security.Permission;

/**
 * Run in a JVM of its own by {@link DjlOfflineTest}: loads a tokenizer.json and encodes a text,
 * either through {@link Tokenizer} ("arrakis") or through DJL with its defaults ("djl-defaults"),
 * printing a line for every network connection the JVM tries (a security manager that allows
 * everything and reports {@code checkConnect}: DJL opens its connections without a proxy, so no
 * proxy could see them).
 */
public final class OfflineProbe {
  private OfflineProbe() {}

  @SuppressWarnings("removal")
  public static void main(String[] args) throws Exception {
    System.setSecurityManager(
        new SecurityManager() {
          @Override
          public void checkConnect(String host, int port) {
            System.out.println("CONNECT " + host + ":" + port);
          }

          @Override
          public void checkPermission(Permission perm) {}

          @Override
          public void checkPermission(Permission perm, Object context) {}
        });
    Path file = Path.of(args[1]);
    if (args[0].equals("arrakis")) {
      try (Tokenizer t = Tokenizer.load(file)) {
        System.out.println("ids " + t.encode("import os").length);
      }
    } else {
      try (HuggingFaceTokenizer t = HuggingFaceTokenizer.newInstance(file)) {
        System.out.println("ids " + t.encode("import os").getIds().length);
      }
    }
  }
}
