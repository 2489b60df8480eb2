package io.arrakis.loadtest.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * {@code --json FILE} and {@code --html FILE}: the report files a load or comparison command also
 * writes besides its text report. Shared by {@code loadtest}, {@code loadtest serve} and {@code
 * placement compare}.
 */
final class ReportFlags {
  /** Writes one form of a report to a file. */
  @FunctionalInterface
  interface Writer {
    void write(Path file) throws IOException;
  }

  @Option(
      names = "--json",
      paramLabel = "FILE",
      description = "Also write the report as JSON to this file.")
  Path json;

  @Option(
      names = "--html",
      paramLabel = "FILE",
      description = "Also write a self-contained HTML page with charts.")
  Path html;

  /** Writes the files asked for, saying each on {@code err}. */
  void write(PrintWriter err, Writer asJson, Writer asHtml) throws IOException {
    if (json != null) {
      asJson.write(json);
      err.println("wrote " + json);
    }
    if (html != null) {
      asHtml.write(html);
      err.println("wrote " + html);
    }
  }
}
