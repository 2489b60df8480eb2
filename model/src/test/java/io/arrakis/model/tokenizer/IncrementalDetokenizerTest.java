package io.arrakis.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Streaming text one token at a time: every delta is whole UTF-8, and the deltas add up to decoding
 * everything at once (properties over random id sequences of the reference byte-level BPE).
 */
class IncrementalDetokenizerTest {
  private static final long SEED = 20_251_204L;
  private static Tokenizer tokenizer;

  @BeforeAll
  static void load() {
    tokenizer = Tokenizer.load(ReferenceModels.dir("qwen3_moe").resolve("tokenizer.json"));
  }

  @AfterAll
  static void close() {
    tokenizer.close();
  }

  @Test
  void aCharacterSpreadOverSeveralTokensComesOutWholeWithItsLastToken() {
    int[] ids = tokenizer.encode("日");
    assertThat(ids.length).as("日 is three bytes, more than one token here").isGreaterThan(1);
    IncrementalDetokenizer d = new IncrementalDetokenizer(tokenizer, false);

    List<String> deltas = new ArrayList<>();
    for (int id : ids) {
      deltas.add(d.next(id));
    }

    assertThat(deltas.subList(0, ids.length - 1)).allMatch(String::isEmpty);
    assertThat(deltas.get(ids.length - 1)).isEqualTo("日");
    assertThat(d.flush()).isEmpty();
  }

  @Test
  void propertyRandomIdsStreamToExactlyTheFullDecodingInWholeCharacters() {
    Random random = new Random(SEED);
    for (int trial = 0; trial < 300; trial++) {
      int[] ids = random.ints(1 + random.nextInt(40), 0, tokenizer.vocabSize()).toArray();
      for (boolean skipSpecial : new boolean[] {false, true}) {
        checkStream(ids, skipSpecial, "trial " + trial);
      }
    }
  }

  @Test
  void propertyTextOfManyScriptsStreamsWithoutAnyReplacementCharacter() {
    String alphabet = "aé日本語🎉ßж\n \t{}ü한글😀ℕ";
    Random random = new Random(SEED + 1);
    for (int trial = 0; trial < 200; trial++) {
      StringBuilder text = new StringBuilder();
      int n = 1 + random.nextInt(30);
      for (int i = 0; i < n; i++) {
        int at = random.nextInt(alphabet.codePointCount(0, alphabet.length()));
        text.appendCodePoint(alphabet.codePointAt(alphabet.offsetByCodePoints(0, at)));
      }
      int[] ids = tokenizer.encode(text.toString());

      List<String> deltas = checkStream(ids, false, text.toString());

      assertThat(String.join("", deltas)).isEqualTo(text.toString());
      assertThat(deltas).noneMatch(delta -> delta.indexOf('\uFFFD') >= 0);
    }
  }

  @Test
  void contextIdsAreDecodedButNotEmitted() {
    int[] prompt = tokenizer.encode("def forward(self");
    int[] completion = tokenizer.encode(", x):");
    IncrementalDetokenizer d = new IncrementalDetokenizer(tokenizer, false, prompt);

    StringBuilder out = new StringBuilder();
    for (int id : completion) {
      out.append(d.next(id));
    }

    assertThat(out.append(d.flush()).toString()).isEqualTo(", x):");
    assertThat(d.tokenCount()).isEqualTo(completion.length);
  }

  @Test
  void specialTokensAreKeptOrSkippedAsAsked() {
    int[] ids = tokenizer.encode("hi<|im_end|>");

    assertThat(stream(ids, false)).isEqualTo("hi<|im_end|>");
    assertThat(stream(ids, true)).isEqualTo("hi");
  }

  private static String stream(int[] ids, boolean skipSpecial) {
    IncrementalDetokenizer d = new IncrementalDetokenizer(tokenizer, skipSpecial);
    return d.next(ids) + d.flush();
  }

  /**
   * Streams {@code ids}; checks the deltas add up to the full decoding and are each whole UTF-8.
   */
  private static List<String> checkStream(int[] ids, boolean skipSpecial, String what) {
    IncrementalDetokenizer d = new IncrementalDetokenizer(tokenizer, skipSpecial);
    List<String> deltas = new ArrayList<>();
    for (int id : ids) {
      deltas.add(d.next(id));
    }
    deltas.add(d.flush());
    String full = tokenizer.decode(ids, skipSpecial);

    assertThat(String.join("", deltas)).as(what).isEqualTo(full);
    for (String delta : deltas) {
      assertThat(isWholeUtf8(delta)).as("%s: delta %s", what, delta).isTrue();
    }
    if (full.indexOf('\uFFFD') < 0) {
      assertThat(deltas).as(what).noneMatch(delta -> delta.indexOf('\uFFFD') >= 0);
    }
    return deltas;
  }

  /** No unpaired surrogate: the delta encodes to UTF-8 and back unchanged. */
  private static boolean isWholeUtf8(String s) {
    try {
      ByteBuffer bytes =
          StandardCharsets.UTF_8
              .newEncoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .encode(CharBuffer.wrap(s));
      return StandardCharsets.UTF_8.newDecoder().decode(bytes).toString().equals(s);
    } catch (CharacterCodingException e) {
      return false;
    }
  }
}
