package io.arrakis.expert;

import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.InvalidProtocolBufferException;
import io.grpc.ManagedChannel;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Lists a server's services through server reflection, as grpcurl does. */
final class Reflection {
  private Reflection() {}

  static List<String> listServices(ManagedChannel channel) {
    return ask(channel, ServerReflectionRequest.newBuilder().setListServices("*").build())
        .getListServicesResponse()
        .getServiceList()
        .stream()
        .map(s -> s.getName())
        .toList();
  }

  /**
   * The methods of {@code service} as the file descriptor that reflection serves for it declares
   * them.
   */
  static List<String> methods(ManagedChannel channel, String service) {
    ServerReflectionResponse r =
        ask(channel, ServerReflectionRequest.newBuilder().setFileContainingSymbol(service).build());
    String simpleName = service.substring(service.lastIndexOf('.') + 1);
    return r.getFileDescriptorResponse().getFileDescriptorProtoList().stream()
        .map(
            bytes -> {
              try {
                return FileDescriptorProto.parseFrom(bytes);
              } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException(e);
              }
            })
        .flatMap(f -> f.getServiceList().stream())
        .filter(s -> s.getName().equals(simpleName))
        .flatMap(s -> s.getMethodList().stream())
        .map(m -> m.getName())
        .toList();
  }

  private static ServerReflectionResponse ask(
      ManagedChannel channel, ServerReflectionRequest request) {
    CompletableFuture<ServerReflectionResponse> result = new CompletableFuture<>();
    StreamObserver<ServerReflectionRequest> requests =
        ServerReflectionGrpc.newStub(channel)
            .withDeadlineAfter(10, TimeUnit.SECONDS)
            .serverReflectionInfo(
                new StreamObserver<>() {
                  @Override
                  public void onNext(ServerReflectionResponse r) {
                    result.complete(r);
                  }

                  @Override
                  public void onError(Throwable t) {
                    result.completeExceptionally(t);
                  }

                  @Override
                  public void onCompleted() {
                    result.completeExceptionally(
                        new IllegalStateException("reflection answered nothing"));
                  }
                });
    requests.onNext(request);
    requests.onCompleted();
    return result.orTimeout(10, TimeUnit.SECONDS).join();
  }
}
