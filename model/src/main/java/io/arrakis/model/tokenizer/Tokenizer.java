package io.arrakis.model.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A {@code tokenizer.json} (Hugging Face tokenizers, through DJL's binding to the Rust library):
 * text to token ids and back, as transformers' fast tokenizers do it.
 *
 * <p>Never truncates or pads (whatever the file or a default maximum length says), and encodes with
 * {@code add_special_tokens=False} unless asked otherwise, the way chat templates and the reference
 * prompts are tokenized; special tokens written in the text (e.g. {@code <|im_start|>}) are still
 * recognised, as in transformers. Runs offline: see {@link DjlOffline}. The native tokenizer is
 * only read after construction, so encode and decode may be called from several threads.
 */
public final class Tokenizer implements AutoCloseable {
  private static final Map<String, String> OPTIONS =
      Map.of(
          "addSpecialTokens", "false",
          "truncation", "false",
          "padding", "false");

  private final HuggingFaceTokenizer hf;
  private final Vocabulary vocabulary;
  private final Path file;

  private Tokenizer(HuggingFaceTokenizer hf, Vocabulary vocabulary, Path file) {
    this.hf = hf;
    this.vocabulary = vocabulary;
    this.file = file;
  }

  /** Loads a tokenizer.json. */
  public static Tokenizer load(Path tokenizerJson) {
    String json = JsonFiles.readText(tokenizerJson);
    Vocabulary vocabulary =
        Vocabulary.from(JsonFiles.parseObject(json, tokenizerJson), tokenizerJson);
    DjlOffline.ensure();
    HuggingFaceTokenizer hf;
    try {
      hf =
          HuggingFaceTokenizer.newInstance(
              new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), OPTIONS);
    } catch (IOException | RuntimeException e) {
      throw new TokenizerException(
          tokenizerJson + ": not a tokenizer the tokenizers library can load: " + e.getMessage(),
          e);
    }
    return new Tokenizer(hf, vocabulary, tokenizerJson);
  }

  /** The token ids of {@code text}, without added special tokens (no BOS), never truncated. */
  public int[] encode(String text) {
    return encode(text, false);
  }

  /**
   * The token ids of {@code text}; with {@code addSpecialTokens} the tokenizer's post-processor
   * adds what the model expects around a sequence (e.g. a BOS token), as transformers' default
   * does.
   */
  public int[] encode(String text, boolean addSpecialTokens) {
    long[] ids;
    try {
      ids = hf.encode(wellFormed(text), addSpecialTokens, false).getIds();
    } catch (RuntimeException e) {
      throw new TokenizerException(file + ": cannot encode the text: " + e.getMessage(), e);
    }
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = Math.toIntExact(ids[i]);
    }
    return out;
  }

  /**
   * The text with each unpaired surrogate (possible in a Java string, e.g. from a JSON escape, but
   * not in UTF-8) replaced by U+FFFD, so that what the native side gets is well defined.
   */
  static String wellFormed(String text) {
    StringBuilder out = null;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      boolean paired =
          Character.isHighSurrogate(c)
              && i + 1 < text.length()
              && Character.isLowSurrogate(text.charAt(i + 1));
      if (paired) {
        if (out != null) {
          out.append(c).append(text.charAt(i + 1));
        }
        i++;
      } else if (Character.isSurrogate(c)) {
        if (out == null) {
          out = new StringBuilder(text.length()).append(text, 0, i);
        }
        out.append('\uFFFD');
      } else if (out != null) {
        out.append(c);
      }
    }
    return out == null ? text : out.toString();
  }

  /** The text of {@code ids}, special tokens included (transformers' {@code decode} default). */
  public String decode(int[] ids) {
    return decode(ids, false);
  }

  /** The text of {@code ids}; special tokens left out when {@code skipSpecialTokens}. */
  public String decode(int[] ids, boolean skipSpecialTokens) {
    long[] longs = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      longs[i] = checkId(ids[i]);
    }
    return decodeChecked(longs, skipSpecialTokens);
  }

  /** Decodes ids already checked to be in range (the incremental detokenizer's window). */
  String decodeChecked(long[] ids, boolean skipSpecialTokens) {
    return hf.decode(ids, skipSpecialTokens);
  }

  int checkId(int id) {
    if (id < 0 || id >= vocabulary.size()) {
      throw new IllegalArgumentException(
          "token id " + id + " is outside the vocabulary [0, " + vocabulary.size() + ")");
    }
    return id;
  }

  /**
   * Number of token ids: the highest id + 1, added tokens included (transformers' {@code
   * len(tokenizer)}).
   */
  public int vocabSize() {
    return vocabulary.size();
  }

  /** The token's string as the vocabulary writes it (e.g. {@code "Ġthe"} for byte-level BPE). */
  public Optional<String> token(int id) {
    return vocabulary.token(id);
  }

  /** The id of a token string of the vocabulary (an added token's content included). */
  public OptionalInt id(String token) {
    return vocabulary.id(token);
  }

  /** Whether the id is an added token marked special in tokenizer.json. */
  public boolean isSpecial(int id) {
    return vocabulary.isSpecial(id);
  }

  /** The special added tokens, by id. */
  public Map<Integer, String> specialTokens() {
    return vocabulary.specialTokens();
  }

  /** The tokenizer.json this was loaded from. */
  public Path file() {
    return file;
  }

  @Override
  public void close() {
    hf.close();
  }
}
