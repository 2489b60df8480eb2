package io.arrakis.model.tokenizer;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python's str methods for Jinjava, which otherwise calls Java's: chat templates written for jinja2
 * call {@code content.startswith(…)}, {@code .lstrip('\n')}, {@code .split('</think>')} and the
 * like, which Java lacks or (split: a regular expression) means differently. Only these methods on
 * strings are resolved here; everything else falls through to Jinjava's own resolvers.
 */
final class PyStringMethods extends ELResolver {
  private static final Object NOT_A_METHOD = new Object();

  @Override
  public Object invoke(
      ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
    if (!(base instanceof String s) || !(method instanceof String name)) {
      return null;
    }
    Object[] args = params == null ? new Object[0] : params;
    Object result = call(s, name, args);
    if (result != NOT_A_METHOD) {
      context.setPropertyResolved(true);
    }
    return result == NOT_A_METHOD ? null : result;
  }

  private static Object call(String s, String name, Object[] args) {
    switch (name) {
      case "startswith":
        return anyOf(args, s::startsWith);
      case "endswith":
        return anyOf(args, s::endsWith);
      case "strip":
        return rstrip(lstrip(s, chars(args)), chars(args));
      case "lstrip":
        return lstrip(s, chars(args));
      case "rstrip":
        return rstrip(s, chars(args));
      case "split":
        return split(s, args.length > 0 ? args[0] : null, args.length > 1 ? toInt(args[1]) : -1);
      case "upper":
        return s.toUpperCase(Locale.ROOT);
      case "lower":
        return s.toLowerCase(Locale.ROOT);
      case "capitalize":
        return s.isEmpty()
            ? s
            : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
      case "title":
        return title(s);
      case "replace":
        return replace(s, str(args, 0), str(args, 1), args.length > 2 ? toInt(args[2]) : -1);
      case "find":
        return (long) s.indexOf(str(args, 0));
      case "count":
        return count(s, str(args, 0));
      case "join":
        return join(s, args.length > 0 ? args[0] : null);
      default:
        return NOT_A_METHOD;
    }
  }

  private interface Test {
    boolean test(String p);
  }

  /** Python's startswith/endswith take a string or a tuple of strings. */
  private static boolean anyOf(Object[] args, Test test) {
    Object arg = args.length > 0 ? args[0] : null;
    if (arg instanceof Collection<?> options) {
      for (Object o : options) {
        if (test.test(String.valueOf(o))) {
          return true;
        }
      }
      return false;
    }
    return test.test(String.valueOf(arg));
  }

  /** The characters to strip: Python's default (null) is whitespace. */
  private static String chars(Object[] args) {
    return args.length > 0 && args[0] != null ? String.valueOf(args[0]) : null;
  }

  private static boolean strippable(int c, String chars) {
    return chars == null
        ? Character.isWhitespace(c) || Character.isSpaceChar(c)
        : chars.indexOf(c) >= 0;
  }

  private static String lstrip(String s, String chars) {
    int i = 0;
    while (i < s.length() && strippable(s.codePointAt(i), chars)) {
      i += Character.charCount(s.codePointAt(i));
    }
    return s.substring(i);
  }

  private static String rstrip(String s, String chars) {
    int end = s.length();
    while (end > 0 && strippable(s.codePointBefore(end), chars)) {
      end -= Character.charCount(s.codePointBefore(end));
    }
    return s.substring(0, end);
  }

  /** Python's split: on runs of whitespace without a separator, else on the literal separator. */
  private static List<String> split(String s, Object sep, int maxSplit) {
    List<String> out = new ArrayList<>();
    if (sep == null) {
      int i = 0;
      while (true) {
        while (i < s.length() && strippable(s.charAt(i), null)) {
          i++;
        }
        if (i >= s.length()) {
          return out;
        }
        if (maxSplit >= 0 && out.size() == maxSplit) {
          out.add(rstrip(s.substring(i), null));
          return out;
        }
        int j = i;
        while (j < s.length() && !strippable(s.charAt(j), null)) {
          j++;
        }
        out.add(s.substring(i, j));
        i = j;
      }
    }
    String separator = String.valueOf(sep);
    if (separator.isEmpty()) {
      throw new IllegalArgumentException("empty separator");
    }
    int start = 0;
    int at;
    while ((maxSplit < 0 || out.size() < maxSplit) && (at = s.indexOf(separator, start)) >= 0) {
      out.add(s.substring(start, at));
      start = at + separator.length();
    }
    out.add(s.substring(start));
    return out;
  }

  private static String title(String s) {
    StringBuilder out = new StringBuilder(s.length());
    boolean previousCased = false;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      out.append(previousCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
      previousCased = Character.isLetter(c);
    }
    return out.toString();
  }

  private static String replace(String s, String old, String replacement, int count) {
    if (count < 0) {
      return s.replace(old, replacement);
    }
    StringBuilder out = new StringBuilder();
    int start = 0;
    int at;
    int done = 0;
    while (done < count && !old.isEmpty() && (at = s.indexOf(old, start)) >= 0) {
      out.append(s, start, at).append(replacement);
      start = at + old.length();
      done++;
    }
    return out.append(s.substring(start)).toString();
  }

  private static long count(String s, String sub) {
    if (sub.isEmpty()) {
      return s.length() + 1L;
    }
    long n = 0;
    for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
      n++;
    }
    return n;
  }

  private static String join(String separator, Object items) {
    if (!(items instanceof Iterable<?> iterable)) {
      throw new IllegalArgumentException("join needs a list, not " + items);
    }
    StringBuilder out = new StringBuilder();
    boolean first = true;
    for (Object o : iterable) {
      if (!first) {
        out.append(separator);
      }
      out.append(o);
      first = false;
    }
    return out.toString();
  }

  private static String str(Object[] args, int i) {
    if (args.length <= i || args[i] == null) {
      throw new IllegalArgumentException("argument " + (i + 1) + " missing");
    }
    return String.valueOf(args[i]);
  }

  private static int toInt(Object o) {
    return o instanceof Number n ? n.intValue() : Integer.parseInt(String.valueOf(o));
  }

  // not a property resolver: these leave every lookup to the resolvers after this one

  @Override
  public Object getValue(ELContext context, Object base, Object property) {
    return null;
  }

  @Override
  public Class<?> getType(ELContext context, Object base, Object property) {
    return null;
  }

  @Override
  public void setValue(ELContext context, Object base, Object property, Object value) {}

  @Override
  public boolean isReadOnly(ELContext context, Object base, Object property) {
    return false;
  }

  @Override
  public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
    return null;
  }

  @Override
  public Class<?> getCommonPropertyType(ELContext context, Object base) {
    return null;
  }
}
