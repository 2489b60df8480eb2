package io.arrakis.model.tokenizer;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Python syntax that chat templates use and Jinjava's expression parser reads differently or not at
 * all, written in Jinja terms before the template is compiled; applied inside {@code {{ }}} and
 * {@code {% %}} only, never to text or string literals:
 *
 * <ul>
 *   <li>a keyword argument's value is parenthesised: Jinjava binds {@code n=messages|length - 1} as
 *       {@code (n=messages|length) - 1} (Qwen3's {@code namespace(…,
 *       last_query_index=messages|length - 1)});
 *   <li>reversing with a step slice, {@code name[::-1]}, becomes {@code (name|reverse|list)}
 *       (Qwen3's template walks {@code messages[::-1]});
 *   <li>{@code not x is defined} means {@code not (x is defined)} in Jinja, where tests bind
 *       tighter than {@code not}; Jinjava reads {@code (not x) is defined} (DeepSeek-V3.1's
 *       template starts with {@code if not add_generation_prompt is defined}), so the parentheses
 *       are written out.
 * </ul>
 *
 * A loop filter ({@code {% for x in xs if cond %}}) is refused: Jinjava would ignore the condition
 * and loop over every item, rendering a wrong prompt without an error. The keyword scan skips
 * string literals; the two patterns do not, so a string literal inside a tag that spells {@code
 * x[::-1]} or {@code not x is y} would be rewritten too (none of the templates seen does).
 */
final class PythonSyntax {
  private static final Pattern TAG = Pattern.compile("\\{\\{.*?\\}\\}|\\{%.*?%\\}", Pattern.DOTALL);
  private static final Pattern REVERSED =
      Pattern.compile(
          "([A-Za-z_][A-Za-z0-9_]*(?:\\.[A-Za-z_][A-Za-z0-9_]*)*)\\[\\s*:\\s*:\\s*-1\\s*\\]");
  private static final Pattern NOT_TEST =
      Pattern.compile(
          "\\bnot\\s+([A-Za-z_][A-Za-z0-9_]*(?:\\.[A-Za-z_][A-Za-z0-9_]*|\\[[^\\]\\[]*\\])*)\\s+is\\s+(not\\s+)?([A-Za-z_][A-Za-z0-9_]*)\\b");
  private static final Pattern FILTERED_FOR =
      Pattern.compile("^\\{%-?\\s*for\\s.+\\sin\\s.+\\sif\\s", Pattern.DOTALL);
  private static final Pattern KEYWORD = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*\\s*=(?!=)");

  private PythonSyntax() {}

  static String rewrite(String template, Path origin) {
    Matcher tags = TAG.matcher(template);
    StringBuilder out = new StringBuilder(template.length());
    while (tags.find()) {
      if (FILTERED_FOR.matcher(withoutStrings(tags.group())).find()) {
        throw new TokenizerException(
            origin
                + ": the chat template filters a for loop ("
                + tags.group()
                + " at line "
                + line(template, tags.start())
                + "), which Jinjava does not support");
      }
      String tag = keywordValuesInParentheses(tags.group());
      tag = REVERSED.matcher(tag).replaceAll("($1|reverse|list)");
      tag = NOT_TEST.matcher(tag).replaceAll("not ($1 is $2$3)");
      tags.appendReplacement(out, Matcher.quoteReplacement(tag));
    }
    tags.appendTail(out);
    return out.toString();
  }

  /** {@code f(a, k=x - 1)} → {@code f(a, k=(x - 1))}, skipping string literals. */
  static String keywordValuesInParentheses(String tag) {
    StringBuilder out = new StringBuilder(tag.length() + 8);
    // per open bracket: its kind, and whether the current argument's value was opened with '('
    Deque<int[]> brackets = new ArrayDeque<>();
    boolean argumentStart = false;
    for (int i = 0; i < tag.length(); i++) {
      char c = tag.charAt(i);
      if (c == '\'' || c == '"') {
        int end = endOfString(tag, i);
        out.append(tag, i, end);
        i = end - 1;
        argumentStart = false;
        continue;
      }
      if (argumentStart && !Character.isWhitespace(c)) {
        argumentStart = false;
        Matcher k = KEYWORD.matcher(tag).region(i, tag.length());
        if (k.lookingAt()) {
          out.append(tag, i, k.end()).append('(');
          brackets.peek()[1] = 1;
          i = k.end() - 1;
          continue;
        }
      }
      switch (c) {
        case '(', '[', '{' -> {
          out.append(c);
          brackets.push(new int[] {c, 0});
          argumentStart = c == '(';
        }
        case ',' -> {
          closeValue(out, brackets);
          out.append(c);
          argumentStart = !brackets.isEmpty() && brackets.peek()[0] == '(';
        }
        case ')', ']', '}' -> {
          closeValue(out, brackets);
          out.append(c);
          if (!brackets.isEmpty()) {
            brackets.pop();
          }
        }
        default -> out.append(c);
      }
    }
    return out.toString();
  }

  private static int line(String s, int offset) {
    int line = 1;
    for (int i = 0; i < offset; i++) {
      if (s.charAt(i) == '\n') {
        line++;
      }
    }
    return line;
  }

  /** The tag with its string literals emptied ('' and ""), so that their text matches no syntax. */
  static String withoutStrings(String tag) {
    StringBuilder out = new StringBuilder(tag.length());
    for (int i = 0; i < tag.length(); i++) {
      char c = tag.charAt(i);
      if (c == '\'' || c == '"') {
        int end = endOfString(tag, i);
        out.append(c).append(c);
        i = end - 1;
      } else {
        out.append(c);
      }
    }
    return out.toString();
  }

  private static void closeValue(StringBuilder out, Deque<int[]> brackets) {
    if (!brackets.isEmpty() && brackets.peek()[1] == 1) {
      out.append(')');
      brackets.peek()[1] = 0;
    }
  }

  private static int endOfString(String s, int start) {
    char quote = s.charAt(start);
    for (int i = start + 1; i < s.length(); i++) {
      if (s.charAt(i) == '\\') {
        i++;
      } else if (s.charAt(i) == quote) {
        return i + 1;
      }
    }
    return s.length();
  }
}
