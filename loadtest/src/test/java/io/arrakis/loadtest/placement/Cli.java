package io.arrakis.loadtest.placement;

import io.arrakis.loadtest.cli.ArrakisCli;
import java.io.PrintWriter;
import java.io.StringWriter;

/** One in-process run of the CLI: exit code, stdout, stderr. */
record Cli(int code, String out, String err) {
  static Cli run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = ArrakisCli.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
    return new Cli(code, out.toString(), err.toString());
  }

  @Override
  public String toString() {
    return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
  }
}
