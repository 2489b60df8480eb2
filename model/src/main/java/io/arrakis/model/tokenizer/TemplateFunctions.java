package io.arrakis.model.tokenizer;

import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import java.time.ZoneId;
import java.time.ZonedDateTime;

/**
 * The globals transformers gives chat templates: {@code raise_exception} and {@code strftime_now}.
 */
public final class TemplateFunctions {
  private TemplateFunctions() {}

  /** Thrown by a template's {@code raise_exception(message)}: the template refuses the chat. */
  static final class Raised extends RuntimeException {
    Raised(String message) {
      super(message, null, false, false);
    }
  }

  /** {@code raise_exception(message)}. */
  public static String raiseException(Object message) {
    throw new Raised(String.valueOf(message));
  }

  /**
   * {@code strftime_now(format)}: the local time now, formatted as Python's strftime does
   * (transformers renders templates with {@code datetime.now()}, the machine's zone).
   */
  public static String strftimeNow(String format) {
    return StrftimeFormatter.format(ZonedDateTime.now(ZoneId.systemDefault()), format);
  }
}
