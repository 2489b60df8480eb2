package io.arrakis.loadtest.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the clients of src/test/python (forward_client.py, generate_client.py) with Debian's Python,
 * which has python3-grpcio and python3-grpc-tools (./test installs them; a pyenv Python on PATH
 * usually has neither).
 */
final class PythonClient {
  static final Path PYTHON = Path.of("/usr/bin/python3");
  private static final long TIMEOUT_S = 120;

  record Outcome(int exitCode, String output) {}

  private PythonClient() {}

  /** forward_client.py against a layer fixture. */
  static Outcome run(String target, Path fixture) throws IOException, InterruptedException {
    return run("forward_client.py", target, "--fixture", fixture.toString());
  }

  /** generate_client.py against a reference model (its expected.json). */
  static Outcome generate(String target, Path model) throws IOException, InterruptedException {
    return run("generate_client.py", target, "--model", model.toString());
  }

  private static Outcome run(String client, String target, String flag, String dir)
      throws IOException, InterruptedException {
    Path module = moduleDir();
    Path script = module.resolve("src/test/python/" + client);
    Path protoRoot = module.resolveSibling("proto").resolve("src/main/proto");
    Outcome check = exec(List.of(PYTHON.toString(), "-c", "import grpc, grpc_tools.protoc"));
    if (check.exitCode() != 0) {
      throw new AssertionError(
          PYTHON
              + " cannot import grpc and grpc_tools: install the Debian packages python3-grpcio "
              + "and python3-grpc-tools (./test --install-only does)\n"
              + check.output());
    }
    return exec(
        List.of(
            PYTHON.toString(),
            script.toString(),
            "--target",
            target,
            "--proto-root",
            protoRoot.toString(),
            flag,
            dir));
  }

  /**
   * The loadtest module's folder: surefire runs tests there; an IDE may run them from the checkout.
   */
  private static Path moduleDir() {
    Path cwd = Path.of("").toAbsolutePath();
    return Files.isDirectory(cwd.resolve("src/test/python")) ? cwd : cwd.resolve("loadtest");
  }

  private static Outcome exec(List<String> command) throws IOException, InterruptedException {
    Path out = Files.createTempFile("arrakis-python-", ".log");
    try {
      Process p =
          new ProcessBuilder(command)
              .redirectErrorStream(true)
              .redirectOutput(out.toFile())
              .start();
      if (!p.waitFor(TIMEOUT_S, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        return new Outcome(
            -1,
            "timed out after "
                + TIMEOUT_S
                + " s\n"
                + Files.readString(out, StandardCharsets.UTF_8));
      }
      return new Outcome(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(out);
    }
  }
}
