package dlqos.flink;

import java.util.List;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsRegistrar;
import org.apache.beam.sdk.util.construction.resources.PipelineResourcesOptions;

/**
 * Makes the job server describe PipelineResourcesOptions to its clients: Beam's Python runner sends only the options
 * the job server describes, so without this it drops --pipeline_resources_detector_factory_class.
 */
public final class ResourcesOptionsRegistrar implements PipelineOptionsRegistrar {
  @Override
  public Iterable<Class<? extends PipelineOptions>> getPipelineOptions() {
    return List.of(PipelineResourcesOptions.class);
  }
}
