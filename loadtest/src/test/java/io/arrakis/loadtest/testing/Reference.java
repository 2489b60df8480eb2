package io.arrakis.loadtest.testing;

import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.moe.ReferenceMoe;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.nd4j.linalg.factory.Nd4j;

/** The in-process reference of a model, each layer loaded once. Not thread-safe. */
public final class Reference implements AutoCloseable {
  private final MoeModel model;
  private final Map<Integer, ReferenceMoe> layers = new HashMap<>();

  public Reference(Path modelDir) throws IOException {
    this.model = MoeModel.open(modelDir);
  }

  /** The reference's output (row-major), top-k ids and weights. */
  public record Expected(float[] output, int[] topkIds, float[] topkWeights) {}

  public Expected forward(int layer, float[] x, int tokens) throws IOException {
    ReferenceMoe moe = layers.get(layer);
    if (moe == null) {
      moe = ReferenceMoe.load(model, layer);
      layers.put(layer, moe);
    }
    ReferenceMoe.Result r = moe.forward(Nd4j.create(x, new long[] {tokens, hidden()}, 'c'));
    return new Expected(
        r.output().dup('c').data().asFloat(), r.routing().ids(), r.routing().weights());
  }

  public int hidden() {
    return model.config().hiddenSize();
  }

  public MoeModel model() {
    return model;
  }

  @Override
  public void close() throws IOException {
    model.close();
  }
}
