package io.arrakis.security;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;

/** Bearer tokens: 256 random bits, URL-safe Base64, in files only their owner may read. */
public final class Tokens {
  private static final SecureRandom RANDOM = new SecureRandom();

  private Tokens() {}

  /** Writes a new token into {@code file} (replacing it) and returns the file. */
  public static Path write(Path file) throws IOException {
    byte[] bits = new byte[32];
    RANDOM.nextBytes(bits);
    Files.deleteIfExists(file);
    Files.createFile(file);
    try {
      Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
    } catch (UnsupportedOperationException e) {
      // not a POSIX file system: the default permissions
    }
    Files.writeString(file, Base64.getUrlEncoder().withoutPadding().encodeToString(bits) + "\n");
    return file;
  }
}
