package io.arrakis.model.placement;

import io.arrakis.proto.v1.ExpertRef;

/** One expert of one layer. */
public record ExpertId(int layer, int expert) implements Comparable<ExpertId> {

  public static ExpertId of(ExpertRef ref) {
    return new ExpertId(ref.getLayer(), ref.getExpert());
  }

  public ExpertRef toProto() {
    return ExpertRef.newBuilder().setLayer(layer).setExpert(expert).build();
  }

  @Override
  public int compareTo(ExpertId o) {
    return layer != o.layer ? Integer.compare(layer, o.layer) : Integer.compare(expert, o.expert);
  }

  @Override
  public String toString() {
    return layer + ":" + expert;
  }
}
