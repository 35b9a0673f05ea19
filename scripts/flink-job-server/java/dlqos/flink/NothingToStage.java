package dlqos.flink;

import java.util.Collections;
import java.util.List;
import org.apache.beam.sdk.util.construction.resources.PipelineResourcesDetector;

/**
 * A job server option (--pipeline_resources_detector_factory_class=dlqos.flink.NothingToStage) for a Flink cluster
 * whose classpath already holds Beam's Flink runner: jobs are submitted without the job server's own classpath, which
 * Beam otherwise ships with every job (about 160 jars, 150 MB, uploaded and loaded afresh for each TFX component).
 */
public final class NothingToStage implements PipelineResourcesDetector.Factory {
  public static NothingToStage create() {
    return new NothingToStage();
  }

  @Override
  public PipelineResourcesDetector getPipelineResourcesDetector() {
    return new Nothing();
  }

  static final class Nothing implements PipelineResourcesDetector {
    @Override
    public List<String> detect(ClassLoader classLoader) {
      return Collections.emptyList();
    }
  }
}
