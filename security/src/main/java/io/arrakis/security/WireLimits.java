package io.arrakis.security;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.WireFormat;
import java.io.IOException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Bounds on what a request may carry, checked on its wire bytes before it is parsed: entries of a
 * repeated field (per message) and bytes of a string or bytes field. A message limit alone does not
 * bound what parsing costs: a packed {@code repeated int64} entry is one byte on the wire and eight
 * in memory, and an empty sub-message two bytes on the wire and an object in memory. A refusal
 * names the field and the limit, never the values.
 */
public final class WireLimits {
  /** Sub-messages nested deeper than this are refused, as protobuf's own parser does. */
  private static final int MAX_DEPTH = 100;

  private final Map<FieldDescriptor, Integer> maxCount;
  private final Map<FieldDescriptor, Integer> maxBytes;

  /** Message types whose fields have a limit. */
  private final Set<Descriptor> limited = new HashSet<>();

  /** Whether a type's messages can hold a limited field, by type, as found. */
  private final Map<Descriptor, Boolean> applies = new ConcurrentHashMap<>();

  private WireLimits(
      Map<FieldDescriptor, Integer> maxCount, Map<FieldDescriptor, Integer> maxBytes) {
    this.maxCount = Map.copyOf(maxCount);
    this.maxBytes = Map.copyOf(maxBytes);
    Set<FieldDescriptor> all = new HashSet<>(maxCount.keySet());
    all.addAll(maxBytes.keySet());
    all.forEach(f -> limited.add(f.getContainingType()));
  }

  public static Builder builder() {
    return new Builder();
  }

  /** A request that passes a limit. */
  public static final class Refusal extends Exception {
    Refusal(String message) {
      super(message, null, false, false);
    }
  }

  public static final class Builder {
    private final Map<FieldDescriptor, Integer> maxCount = new HashMap<>();
    private final Map<FieldDescriptor, Integer> maxBytes = new HashMap<>();

    /** At most {@code max} entries of the repeated field {@code field} in one message. */
    public Builder maxCount(FieldDescriptor field, int max) {
      if (!field.isRepeated()) {
        throw new IllegalArgumentException(field.getFullName() + " is not repeated");
      }
      maxCount.put(field, max);
      return this;
    }

    /** At most {@code max} bytes in the string or bytes field {@code field}. */
    public Builder maxBytes(FieldDescriptor field, int max) {
      if (field.getType() != FieldDescriptor.Type.STRING
          && field.getType() != FieldDescriptor.Type.BYTES) {
        throw new IllegalArgumentException(field.getFullName() + " is neither string nor bytes");
      }
      maxBytes.put(field, max);
      return this;
    }

    public WireLimits build() {
      return new WireLimits(maxCount, maxBytes);
    }
  }

  /** Whether a message of {@code type} can hold a limited field (else it need not be scanned). */
  public boolean applies(Descriptor type) {
    return applies.computeIfAbsent(type, t -> reaches(t, new HashSet<>()));
  }

  private boolean reaches(Descriptor type, Set<Descriptor> seen) {
    if (limited.contains(type)) {
      return true;
    }
    if (!seen.add(type)) {
      return false;
    }
    for (FieldDescriptor f : type.getFields()) {
      if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE
          && reaches(f.getMessageType(), seen)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Checks the encoded message {@code bytes} of {@code type}. Bytes that are not a valid encoding
   * are left to the parser to refuse.
   *
   * @throws Refusal naming the first field past its limit
   */
  public void check(Descriptor type, byte[] bytes) throws Refusal {
    try {
      scan(type, CodedInputStream.newInstance(bytes), "", 0);
    } catch (IOException | RuntimeException malformed) {
      // not a valid message: the parser says why
    }
  }

  private void scan(Descriptor type, CodedInputStream in, String path, int depth)
      throws IOException, Refusal {
    if (depth > MAX_DEPTH) {
      throw new Refusal(path + " nests messages deeper than " + MAX_DEPTH);
    }
    Map<Integer, Integer> counts = new HashMap<>();
    while (true) {
      int tag = in.readTag();
      if (tag == 0) {
        return;
      }
      FieldDescriptor f = type.findFieldByNumber(WireFormat.getTagFieldNumber(tag));
      if (f == null) {
        in.skipField(tag);
        continue;
      }
      boolean delimited = WireFormat.getTagWireType(tag) == WireFormat.WIRETYPE_LENGTH_DELIMITED;
      Integer countLimit = maxCount.get(f);
      if (countLimit != null) {
        int entries = delimited && f.isPackable() ? packedEntries(f, in, countLimit) : 1;
        if (counts.merge(f.getNumber(), entries, Integer::sum) > countLimit) {
          throw new Refusal(path + f.getName() + " has more than " + countLimit + " entries");
        }
        if (delimited && f.isPackable()) {
          continue; // consumed
        }
      }
      Integer byteLimit = maxBytes.get(f);
      if (byteLimit != null && delimited) {
        int length = in.readRawVarint32();
        if (length > byteLimit) {
          throw new Refusal(path + f.getName() + " is longer than " + byteLimit + " bytes");
        }
        in.skipRawBytes(length);
        continue;
      }
      if (delimited
          && f.getJavaType() == FieldDescriptor.JavaType.MESSAGE
          && applies(f.getMessageType())) {
        int length = in.readRawVarint32();
        int outer = in.pushLimit(length);
        scan(f.getMessageType(), in, path + f.getName() + ".", depth + 1);
        in.popLimit(outer);
        continue;
      }
      in.skipField(tag);
    }
  }

  /**
   * Counts the entries of a packed field, reading no further than one past {@code limit}: the rest
   * is skipped unread when the count is already too high.
   */
  private static int packedEntries(FieldDescriptor f, CodedInputStream in, int limit)
      throws IOException {
    int length = in.readRawVarint32();
    int width =
        switch (f.getType()) {
          case FIXED32, SFIXED32, FLOAT -> 4;
          case FIXED64, SFIXED64, DOUBLE -> 8;
          default -> 0; // varints
        };
    if (width > 0) {
      in.skipRawBytes(length);
      return length / width;
    }
    int entries = 0;
    int outer = in.pushLimit(length);
    while (!in.isAtEnd() && entries <= limit) {
      in.readRawVarint64();
      entries++;
    }
    in.popLimit(
        outer); // past the limit the caller refuses at once: where the stream stands no longer
    // matters
    return entries;
  }
}
