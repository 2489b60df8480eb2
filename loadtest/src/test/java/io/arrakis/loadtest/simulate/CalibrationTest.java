package io.arrakis.loadtest.simulate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Calibration figures: interpolation of the expert timings, the JSON form and its errors. */
class CalibrationTest {
  @TempDir Path tmp;

  private static Calibration sample() {
    return new Calibration(
        new Calibration.ModelSizes(512, 1024, 16, 2),
        List.of(
            new Calibration.Point(64, 0.006),
            new Calibration.Point(1, 0.002),
            new Calibration.Point(16, 0.003)),
        new Calibration.RouterCosts(0.001, 1e-5, 1e-7, 0.0002),
        new Calibration.NodeCosts(0.0003, 2e-6),
        new Calibration.ClientCosts(0.0005, 1e-6),
        new Calibration.SharedHost(0.85, 1e-4),
        new Calibration.Source("cpu", 2, "2026-01-01T00:00:00Z", "note"));
  }

  @Test
  void expertTimeIsInterpolatedBetweenPointsAndExtrapolatedPastTheLast() {
    Calibration c = sample();
    assertThat(c.expertSeconds(0)).isZero();
    assertThat(c.expertSeconds(1)).isEqualTo(0.002);
    assertThat(c.expertSeconds(16)).isEqualTo(0.003);
    assertThat(c.expertSeconds(40)).isCloseTo(0.0045, within(1e-12)); // halfway from 16 to 64
    assertThat(c.expertSeconds(112))
        .isCloseTo(0.009, within(1e-12)); // the last slope, 1/16 ms per row
  }

  @Test
  void theGateCostGrowsWithTheExperts() {
    assertThat(sample().routerTokenSeconds(256)).isCloseTo(1e-5 + 256e-7, within(1e-15));
  }

  @Test
  void jsonRoundTrips() throws Exception {
    Path f = tmp.resolve("c.json");
    CalibrationJson.write(sample(), null, f);
    assertThat(CalibrationJson.read(f)).isEqualTo(sample());
  }

  @Test
  void theBuiltInCalibrationReads() {
    Calibration c = CalibrationJson.builtIn();
    assertThat(c.expertSeconds(1)).isPositive();
    assertThat(c.source().machine()).isNotBlank();
  }

  @Test
  void aMissingFileSaysHowToMakeOne() {
    assertThatThrownBy(() -> CalibrationJson.read(tmp.resolve("none.json")))
        .isInstanceOf(NoSuchFileException.class)
        .hasMessageContaining("simulate calibrate");
  }

  @Test
  void aBadFieldIsNamed() throws Exception {
    Path f = tmp.resolve("bad.json");
    CalibrationJson.write(sample(), null, f);
    Files.writeString(
        f, Files.readString(f).replace("\"call_s\" : 3.0E-4", "\"call_s\" : \"fast\""));
    assertThatThrownBy(() -> CalibrationJson.read(f))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("bad.json")
        .hasMessageContaining("'call_s' must be a number");
    Files.writeString(f, "{\"model\": 1}");
    assertThatThrownBy(() -> CalibrationJson.read(f))
        .hasMessageContaining("'model' must be an object");
    Files.writeString(f, "not json");
    assertThatThrownBy(() -> CalibrationJson.read(f)).hasMessageContaining("not valid JSON");
  }

  @Test
  void negativeCostsAreRefused() {
    assertThatThrownBy(
            () ->
                new Calibration(
                    sample().model(),
                    sample().expert(),
                    new Calibration.RouterCosts(-1, 0, 0, 0),
                    sample().node(),
                    sample().client(),
                    sample().host(),
                    sample().source()))
        .hasMessageContaining("router costs");
  }
}
