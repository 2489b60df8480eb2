package io.arrakis.security;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.DescriptorProtos.SourceCodeInfo;
import java.util.Collections;
import org.junit.jupiter.api.Test;

/**
 * Limits checked on a message's bytes before it is parsed, on protobuf's own descriptor messages.
 */
class WireLimitsTest {
  static final WireLimits LIMITS =
      WireLimits.builder()
          .maxCount(SourceCodeInfo.Location.getDescriptor().findFieldByName("path"), 4)
          .maxCount(FileDescriptorProto.getDescriptor().findFieldByName("message_type"), 3)
          .maxBytes(FileDescriptorProto.getDescriptor().findFieldByName("name"), 16)
          .build();

  static FileDescriptorProto withPath(int entries) {
    return FileDescriptorProto.newBuilder()
        .setName("f.proto")
        .setSourceCodeInfo(
            SourceCodeInfo.newBuilder()
                .addLocation(
                    SourceCodeInfo.Location.newBuilder()
                        .addAllPath(Collections.nCopies(entries, 1))))
        .build();
  }

  @Test
  void messagesWithinTheLimitsPass() {
    FileDescriptorProto ok =
        withPath(4).toBuilder()
            .addMessageType(DescriptorProto.newBuilder().setName("A"))
            .addMessageType(DescriptorProto.newBuilder().setName("B"))
            .build();
    assertThatCode(() -> LIMITS.check(FileDescriptorProto.getDescriptor(), ok.toByteArray()))
        .doesNotThrowAnyException();
  }

  @Test
  void aPackedRepeatedFieldPastItsCountIsRefusedNamingItsPath() {
    assertThatThrownBy(
            () -> LIMITS.check(FileDescriptorProto.getDescriptor(), withPath(5).toByteArray()))
        .isInstanceOf(WireLimits.Refusal.class)
        .hasMessage("source_code_info.location.path has more than 4 entries");
  }

  /**
   * The count is per message: five locations of four entries each are five messages within the
   * limit.
   */
  @Test
  void countsArePerMessage() {
    SourceCodeInfo.Builder info = SourceCodeInfo.newBuilder();
    for (int i = 0; i < 5; i++) {
      info.addLocation(SourceCodeInfo.Location.newBuilder().addAllPath(Collections.nCopies(4, 7)));
    }
    byte[] bytes = FileDescriptorProto.newBuilder().setSourceCodeInfo(info).build().toByteArray();
    assertThatCode(() -> LIMITS.check(FileDescriptorProto.getDescriptor(), bytes))
        .doesNotThrowAnyException();
  }

  @Test
  void repeatedMessagesAndLongStringsPastTheirLimitsAreRefused() {
    FileDescriptorProto.Builder many = FileDescriptorProto.newBuilder();
    for (int i = 0; i < 4; i++) {
      many.addMessageType(DescriptorProto.getDefaultInstance());
    }
    assertThatThrownBy(
            () -> LIMITS.check(FileDescriptorProto.getDescriptor(), many.build().toByteArray()))
        .isInstanceOf(WireLimits.Refusal.class)
        .hasMessage("message_type has more than 3 entries");
    byte[] longName =
        FileDescriptorProto.newBuilder().setName("x".repeat(17)).build().toByteArray();
    assertThatThrownBy(() -> LIMITS.check(FileDescriptorProto.getDescriptor(), longName))
        .isInstanceOf(WireLimits.Refusal.class)
        .hasMessage("name is longer than 16 bytes");
  }

  @Test
  void bytesThatAreNotAMessageAreLeftToTheParser() {
    assertThatCode(
            () ->
                LIMITS.check(
                    FileDescriptorProto.getDescriptor(), new byte[] {(byte) 0xff, (byte) 0xff}))
        .doesNotThrowAnyException();
  }
}
