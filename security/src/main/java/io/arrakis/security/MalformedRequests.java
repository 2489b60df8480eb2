package io.arrakis.security;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.Message;
import com.google.protobuf.UnknownFieldSet;
import io.grpc.ForwardingServerCallListener;
import io.grpc.KnownLength;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Makes a service answer INVALID_ARGUMENT when a request's bytes are not a valid message of its
 * type: a malformed request is the client's mistake, but grpc-java answers UNKNOWN ("Application
 * error processing RPC") for any failure to parse. The request marshaller hands on an empty message
 * marked with an unknown field instead of throwing, and the call handler closes marked calls with
 * INVALID_ARGUMENT before the service sees them. With {@link WireLimits}, the bytes of each request
 * are checked against them before they are parsed; a message past the server's size limit (also
 * once decompressed) keeps grpc's RESOURCE_EXHAUSTED.
 */
public final class MalformedRequests {
  /** The largest field number protobuf allows; no Arrakis message uses it. */
  private static final int MARK = (1 << 29) - 1;

  private MalformedRequests() {}

  public static ServerServiceDefinition invalidArgument(ServerServiceDefinition service) {
    return invalidArgument(service, WireLimits.builder().build());
  }

  /**
   * As {@link #invalidArgument(ServerServiceDefinition)}, refusing requests past {@code limits}
   * before parsing them.
   */
  public static ServerServiceDefinition invalidArgument(
      ServerServiceDefinition service, WireLimits limits) {
    List<ServerMethodDefinition<?, ?>> methods = new ArrayList<>();
    for (ServerMethodDefinition<?, ?> m : service.getMethods()) {
      methods.add(guard(m, limits));
    }
    // keep the schema descriptor: server reflection lists services by it
    ServiceDescriptor.Builder d =
        ServiceDescriptor.newBuilder(service.getServiceDescriptor().getName())
            .setSchemaDescriptor(service.getServiceDescriptor().getSchemaDescriptor());
    methods.forEach(m -> d.addMethod(m.getMethodDescriptor()));
    ServerServiceDefinition.Builder b = ServerServiceDefinition.builder(d.build());
    methods.forEach(b::addMethod);
    return b.build();
  }

  private static <Q, R> ServerMethodDefinition<Q, R> guard(
      ServerMethodDefinition<Q, R> m, WireLimits limits) {
    MethodDescriptor<Q, R> d = m.getMethodDescriptor();
    if (!(d.getRequestMarshaller() instanceof MethodDescriptor.PrototypeMarshaller<Q> proto)
        || !(proto.getMessagePrototype() instanceof Message)) {
      return m;
    }
    return ServerMethodDefinition.create(
        d.toBuilder().setRequestMarshaller(marking(proto, d.getFullMethodName(), limits)).build(),
        guarded(m.getServerCallHandler()));
  }

  private static <Q> MethodDescriptor.Marshaller<Q> marking(
      MethodDescriptor.PrototypeMarshaller<Q> inner, String method, WireLimits limits) {
    Message prototype = (Message) inner.getMessagePrototype();
    boolean screened = limits.applies(prototype.getDescriptorForType());
    return new MethodDescriptor.Marshaller<>() {
      @Override
      public InputStream stream(Q value) {
        return inner.stream(value);
      }

      @Override
      public Q parse(InputStream stream) {
        try {
          return screened ? screened(stream) : inner.parse(stream);
        } catch (StatusRuntimeException e) {
          Status.Code code =
              e.getStatus().getCode() == Status.Code.RESOURCE_EXHAUSTED
                  ? Status.Code.RESOURCE_EXHAUSTED
                  : Status.Code.INVALID_ARGUMENT;
          return marked(
              code,
              "request is not a valid " + method + " message: " + e.getStatus().getDescription());
        } catch (WireLimits.Refusal e) {
          return marked(
              Status.Code.INVALID_ARGUMENT, method + " request refused: " + e.getMessage());
        } catch (IOException e) {
          return marked(
              Status.Code.INVALID_ARGUMENT,
              "request is not a valid " + method + " message: " + e.getMessage());
        }
      }

      /**
       * Reads the whole message (grpc has bounded it), checks it against the limits, then parses it
       * without copying its bytes fields.
       */
      @SuppressWarnings("unchecked")
      private Q screened(InputStream stream) throws IOException, WireLimits.Refusal {
        byte[] bytes = readAll(stream);
        limits.check(prototype.getDescriptorForType(), bytes);
        CodedInputStream in = CodedInputStream.newInstance(bytes);
        in.enableAliasing(true);
        in.setSizeLimit(Integer.MAX_VALUE);
        return (Q) prototype.getParserForType().parseFrom(in);
      }

      @SuppressWarnings("unchecked")
      private Q marked(Status.Code code, String why) {
        UnknownFieldSet mark =
            UnknownFieldSet.newBuilder()
                .addField(
                    MARK,
                    UnknownFieldSet.Field.newBuilder()
                        .addVarint(code.value())
                        .addLengthDelimited(ByteString.copyFrom(why, StandardCharsets.UTF_8))
                        .build())
                .build();
        return (Q) prototype.toBuilder().setUnknownFields(mark).build();
      }
    };
  }

  private static byte[] readAll(InputStream stream) throws IOException {
    if (stream instanceof KnownLength) {
      byte[] bytes = new byte[stream.available()];
      int read = stream.readNBytes(bytes, 0, bytes.length);
      if (read == bytes.length && stream.read() < 0) {
        return bytes;
      }
      throw new IOException("message ended after " + read + " of " + bytes.length + " bytes");
    }
    return stream.readAllBytes();
  }

  private static <Q, R> ServerCallHandler<Q, R> guarded(ServerCallHandler<Q, R> next) {
    return (call, headers) ->
        new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(
            next.startCall(call, headers)) {
          private boolean refused;

          @Override
          public void onMessage(Q message) {
            UnknownFieldSet.Field mark = ((Message) message).getUnknownFields().getField(MARK);
            if (!mark.getLengthDelimitedList().isEmpty()) {
              refused = true;
              Status.Code code =
                  mark.getVarintList().isEmpty()
                      ? Status.Code.INVALID_ARGUMENT
                      : Status.fromCodeValue(mark.getVarintList().get(0).intValue()).getCode();
              call.close(
                  Status.fromCode(code)
                      .withDescription(mark.getLengthDelimitedList().get(0).toStringUtf8()),
                  new Metadata());
              return;
            }
            super.onMessage(message);
          }

          @Override
          public void onHalfClose() {
            if (!refused) {
              super.onHalfClose();
            }
          }
        };
  }
}
