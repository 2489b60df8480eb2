package io.arrakis.router.cluster;

import com.google.protobuf.InvalidProtocolBufferException;
import io.arrakis.model.placement.PlacementJson;
import io.arrakis.proto.v1.RouterLoad;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.NotSerializableException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.SerializerWithStringManifest;

/**
 * Serializes what routers send each other: load reports (protobuf {@link RouterLoad}, the value of
 * the Distributed Data map) and placement rollouts (placement JSON and the reply-to reference).
 * Bound in reference.conf; Java serialization stays off.
 */
public final class ClusterSerializer extends SerializerWithStringManifest {
  /** Messages of the router cluster protocol; bound to this serializer. */
  public interface Serialized {}

  private static final String LOAD = "L";
  private static final String ROLLOUT = "R";
  private static final String ROLLED_OUT = "A";

  private final ActorRefResolver resolver;

  public ClusterSerializer(ExtendedActorSystem system) {
    this.resolver = ActorRefResolver.get(Adapter.toTyped(system));
  }

  @Override
  public int identifier() {
    return 738_101; // unique among the system's serializers
  }

  @Override
  public String manifest(Object o) {
    if (o instanceof RouterLoad) {
      return LOAD;
    }
    if (o instanceof RolloutReceiver.Rollout) {
      return ROLLOUT;
    }
    if (o instanceof RolloutReceiver.RolledOut) {
      return ROLLED_OUT;
    }
    throw new IllegalArgumentException("cannot serialize " + o.getClass());
  }

  @Override
  public byte[] toBinary(Object o) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      DataOutputStream out = new DataOutputStream(bytes);
      if (o instanceof RouterLoad load) {
        return load.toByteArray();
      } else if (o instanceof RolloutReceiver.Rollout r) {
        out.writeUTF(resolver.toSerializationFormat(r.replyTo()));
        writeLong(out, PlacementJson.write(r.placement()));
      } else if (o instanceof RolloutReceiver.RolledOut r) {
        out.writeUTF(r.routerId());
        out.writeLong(r.version());
        out.writeBoolean(r.applied());
        out.writeUTF(r.problem());
      } else {
        throw new IllegalArgumentException("cannot serialize " + o.getClass());
      }
      out.flush();
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public Object fromBinary(byte[] bytes, String manifest) throws NotSerializableException {
    try {
      if (LOAD.equals(manifest)) {
        return RouterLoad.parseFrom(bytes);
      }
      DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes));
      if (ROLLOUT.equals(manifest)) {
        ActorRef<RolloutReceiver.RolledOut> replyTo = resolver.resolveActorRef(in.readUTF());
        return new RolloutReceiver.Rollout(PlacementJson.parse(readLong(in)), replyTo);
      }
      if (ROLLED_OUT.equals(manifest)) {
        return new RolloutReceiver.RolledOut(
            in.readUTF(), in.readLong(), in.readBoolean(), in.readUTF());
      }
    } catch (InvalidProtocolBufferException e) {
      throw new NotSerializableException("bad router load report: " + e.getMessage());
    } catch (IOException | IllegalArgumentException e) {
      throw new NotSerializableException("bad " + manifest + " message: " + e.getMessage());
    }
    throw new NotSerializableException("unknown manifest '" + manifest + "'");
  }

  /** writeUTF stops at 64 KiB; a placement of a large model is longer. */
  private static void writeLong(DataOutputStream out, String s) throws IOException {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    out.writeInt(b.length);
    out.write(b);
  }

  private static String readLong(DataInputStream in) throws IOException {
    byte[] b = new byte[in.readInt()];
    in.readFully(b);
    return new String(b, StandardCharsets.UTF_8);
  }
}
