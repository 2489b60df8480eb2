package io.arrakis.security;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import com.google.protobuf.UnknownFieldSet;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Makes a service answer INVALID_ARGUMENT when a request's bytes are not a valid message of its
 * type: a malformed request is the client's mistake, but grpc-java answers UNKNOWN ("Application
 * error processing RPC") for any failure to parse. The request marshaller hands on an empty message
 * marked with an unknown field instead of throwing, and the call handler closes marked calls with
 * INVALID_ARGUMENT before the service sees them.
 */
public final class MalformedRequests {
  /** The largest field number protobuf allows; no Arrakis message uses it. */
  private static final int MARK = (1 << 29) - 1;

  private MalformedRequests() {}

  public static ServerServiceDefinition invalidArgument(ServerServiceDefinition service) {
    List<ServerMethodDefinition<?, ?>> methods = new ArrayList<>();
    for (ServerMethodDefinition<?, ?> m : service.getMethods()) {
      methods.add(guard(m));
    }
    // keep the schema descriptor: server reflection lists services by it
    ServiceDescriptor.Builder d = ServiceDescriptor.newBuilder(service.getServiceDescriptor().getName())
        .setSchemaDescriptor(service.getServiceDescriptor().getSchemaDescriptor());
    methods.forEach(m -> d.addMethod(m.getMethodDescriptor()));
    ServerServiceDefinition.Builder b = ServerServiceDefinition.builder(d.build());
    methods.forEach(b::addMethod);
    return b.build();
  }

  private static <Q, R> ServerMethodDefinition<Q, R> guard(ServerMethodDefinition<Q, R> m) {
    MethodDescriptor<Q, R> d = m.getMethodDescriptor();
    if (!(d.getRequestMarshaller() instanceof MethodDescriptor.PrototypeMarshaller<Q> proto)
        || !(proto.getMessagePrototype() instanceof Message)) {
      return m;
    }
    return ServerMethodDefinition.create(d.toBuilder().setRequestMarshaller(marking(proto, d.getFullMethodName())).build(),
        guarded(m.getServerCallHandler()));
  }

  @SuppressWarnings("unchecked")
  private static <Q> MethodDescriptor.Marshaller<Q> marking(MethodDescriptor.PrototypeMarshaller<Q> inner, String method) {
    return new MethodDescriptor.Marshaller<>() {
      @Override
      public InputStream stream(Q value) {
        return inner.stream(value);
      }

      @Override
      public Q parse(InputStream stream) {
        try {
          return inner.parse(stream);
        } catch (StatusRuntimeException e) {
          String why = "request is not a valid " + method + " message: " + e.getStatus().getDescription();
          UnknownFieldSet mark = UnknownFieldSet.newBuilder().addField(MARK, UnknownFieldSet.Field.newBuilder()
              .addLengthDelimited(ByteString.copyFrom(why, StandardCharsets.UTF_8)).build()).build();
          return (Q) ((Message) inner.getMessagePrototype()).toBuilder().setUnknownFields(mark).build();
        }
      }
    };
  }

  private static <Q, R> ServerCallHandler<Q, R> guarded(ServerCallHandler<Q, R> next) {
    return (call, headers) -> new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(
        next.startCall(call, headers)) {
      private boolean refused;

      @Override
      public void onMessage(Q message) {
        UnknownFieldSet.Field mark = ((Message) message).getUnknownFields().getField(MARK);
        if (!mark.getLengthDelimitedList().isEmpty()) {
          refused = true;
          call.close(Status.INVALID_ARGUMENT.withDescription(mark.getLengthDelimitedList().get(0).toStringUtf8()),
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
