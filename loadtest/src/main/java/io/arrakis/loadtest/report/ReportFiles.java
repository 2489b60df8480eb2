package io.arrakis.loadtest.report;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Writes a report where the user asked, making its folder if needed. */
public final class ReportFiles {
  private ReportFiles() {}

  public static void write(Path file, String text) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.writeString(file, text);
  }
}
