package io.arrakis.loadtest.load;

import java.io.Console;
import java.io.PrintStream;
import java.util.Locale;

/**
 * The progress of a run on one line of stderr, rewritten in place about once a second. Where stderr
 * is not a terminal (CI logs), a plain line every few seconds instead, so that logs stay readable.
 */
public final class ProgressLine implements Progress.Listener {
  private static final int PLAIN_EVERY_SECONDS = 5;

  private final PrintStream out;
  private final boolean inPlace;
  private int width;
  private double lastPlain = -PLAIN_EVERY_SECONDS;
  private String lastPhase = "";
  private boolean open;

  public ProgressLine(PrintStream out, boolean inPlace) {
    this.out = out;
    this.inPlace = inPlace;
  }

  /** On stderr, in place when the process has a terminal. */
  public static ProgressLine stderr() {
    return new ProgressLine(System.err, hasTerminal());
  }

  /**
   * Whether the process has a terminal. Up to JDK 21 {@link System#console()} is null without one;
   * from JDK 22 it never is, and {@code Console.isTerminal()} (JDK 22+) tells instead.
   */
  @SuppressWarnings("SystemConsoleNull") // null is what JDK 17 to 21 answer without a terminal
  static boolean hasTerminal() {
    Console console = System.console();
    if (console == null) {
      return false;
    }
    try {
      return (Boolean) Console.class.getMethod("isTerminal").invoke(console);
    } catch (NoSuchMethodException e) {
      return true; // before JDK 22 a console exists only on a terminal
    } catch (ReflectiveOperationException e) {
      return false;
    }
  }

  @Override
  public synchronized void update(Progress p) {
    String line = format(p);
    if (inPlace) {
      out.print("\r" + line + " ".repeat(Math.max(0, width - line.length())));
      width = line.length();
      open = true;
    } else if (!p.phase().equals(lastPhase)
        || p.elapsedSeconds() - lastPlain >= PLAIN_EVERY_SECONDS) {
      out.println(line);
      lastPlain = p.elapsedSeconds();
    }
    lastPhase = p.phase();
    out.flush();
  }

  @Override
  public synchronized void finish() {
    if (open) {
      out.println();
      out.flush();
      open = false;
      width = 0;
    }
    lastPhase = "";
    lastPlain = -PLAIN_EVERY_SECONDS;
  }

  static String format(Progress p) {
    int barWidth = 20;
    double frac = p.phaseSeconds() > 0 ? Math.min(1, p.elapsedSeconds() / p.phaseSeconds()) : 1;
    int filled = (int) Math.round(frac * barWidth);
    return String.format(
        Locale.ROOT,
        "%-7s [%s%s] %3.0f/%.0f%s  %,9.0f tok/s %,7.1f req/s  p50 %s  p99 %s  ok %,d  failed %,d  in flight %d",
        p.phase(),
        "#".repeat(filled),
        ".".repeat(barWidth - filled),
        p.elapsedSeconds(),
        p.phaseSeconds(),
        p.phase().equals(Progress.PROMPTS) ? "" : "s",
        p.tokensPerSecond(),
        p.requestsPerSecond(),
        millis(p.p50Millis()),
        millis(p.p99Millis()),
        p.ok(),
        p.failed(),
        p.inFlight());
  }

  static String millis(double ms) {
    if (Double.isNaN(ms)) {
      return "   -   ";
    }
    return ms < 10
        ? String.format(Locale.ROOT, "%5.2fms", ms)
        : String.format(Locale.ROOT, "%5.0fms", ms);
  }
}
