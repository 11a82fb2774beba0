"""The deployment files in deploy/, checked with the kserve SDK's own model classes (they cannot be
applied here): every field known to V1beta1InferenceService, every value of the right type."""

import os
import re

import kserve.models
import kubernetes.client.models
import yaml
from absl.testing import absltest, parameterized
from kserve import ApiClient

DEPLOY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deploy")
PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}
# kserve's models spell containers list[X] and dict(str, X);
# the kubernetes client's List[X], Dict[str, X].
LIST = re.compile(r"[lL]ist\[(.*)\]$")
DICT = re.compile(r"[dD]ict[(\[][^,]*, (.*)[)\]]$")


def build(data, type_name: str, path: str):
    """`data` as an instance of the SDK type `type_name`; AssertionError names an unknown field or
    a wrong type by its path."""
    if match := LIST.match(type_name):
        assert isinstance(data, list), f"{path}: expected a list"
        return [build(item, match[1], f"{path}[{i}]") for i, item in enumerate(data)]
    if match := DICT.match(type_name):
        assert isinstance(data, dict), f"{path}: expected a mapping"
        return {k: build(v, match[1], f"{path}.{k}") for k, v in data.items()}
    if type_name in PRIMITIVES:
        ok = isinstance(data, PRIMITIVES[type_name]) and (
            type_name == "bool" or not isinstance(data, bool)
        )
        assert ok, f"{path}: {data!r} is not a {type_name}"
        return data
    klass = getattr(kserve.models, type_name, None) or getattr(kubernetes.client.models, type_name)
    assert isinstance(data, dict), f"{path}: expected a {type_name} mapping"
    attributes = {key: name for name, key in klass.attribute_map.items()}
    unknown = sorted(set(data) - set(attributes))
    assert not unknown, f"{path}: {type_name} has no field(s) {unknown}"
    return klass(
        **{
            attributes[k]: build(v, klass.openapi_types[attributes[k]], f"{path}.{k}")
            for k, v in data.items()
        }
    )


def quantity(value: str) -> float:
    """A Kubernetes quantity ("2", "500m", "512Mi", "2Gi") as a number."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for unit, factor in units.items():
        if str(value).endswith(unit):
            return float(str(value)[: -len(unit)]) * factor
    return float(value)


class DeployTest(parameterized.TestCase):
    @parameterized.parameters("tfserving-inferenceservice.yaml", "litert-inferenceservice.yaml")
    def test_inference_service_is_valid_and_round_trips(self, name):
        with open(os.path.join(DEPLOY, name)) as f:
            data = yaml.safe_load(f)
        service = build(data, "V1beta1InferenceService", name)
        self.assertEqual(ApiClient().sanitize_for_serialization(service), data)
        self.assertEqual(service.kind, "InferenceService")

    @parameterized.parameters("tfserving-inferenceservice.yaml", "litert-inferenceservice.yaml")
    def test_inference_service_scales_on_load(self, name):
        with open(os.path.join(DEPLOY, name)) as f:
            predictor = yaml.safe_load(f)["spec"]["predictor"]
        self.assertIn(predictor["scaleMetric"], ("concurrency", "rps"))  # Knative's KPA metrics.
        self.assertGreater(predictor["scaleTarget"], 0)
        self.assertLess(0, predictor["minReplicas"])
        self.assertLess(predictor["minReplicas"], predictor["maxReplicas"])
        container = predictor.get("model") or predictor["containers"][0]
        resources = container["resources"]
        for kind in ("cpu", "memory"):
            self.assertLessEqual(
                quantity(resources["requests"][kind]), quantity(resources["limits"][kind]), kind
            )
        if name.startswith("litert"):  # One worker per CPU requested.
            workers = next(a for a in container["args"] if a.startswith("--workers="))
            self.assertEqual(quantity(resources["requests"]["cpu"]), int(workers.split("=")[1]))

    def test_checker_refuses_unknown_fields_and_wrong_types(self):
        with open(os.path.join(DEPLOY, "litert-inferenceservice.yaml")) as f:
            data = yaml.safe_load(f)
        data["spec"]["predictor"]["minReplica"] = 1
        with self.assertRaisesRegex(AssertionError, "minReplica"):
            build(data, "V1beta1InferenceService", "x")
        del data["spec"]["predictor"]["minReplica"]
        data["spec"]["predictor"]["containers"][0]["ports"][0]["containerPort"] = "8080"
        with self.assertRaisesRegex(AssertionError, "containerPort"):
            build(data, "V1beta1InferenceService", "x")

    def test_litert_predictor_runs_this_server(self):
        with open(os.path.join(DEPLOY, "litert-inferenceservice.yaml")) as f:
            container = yaml.safe_load(f)["spec"]["predictor"]["containers"][0]
        with open(os.path.join(DEPLOY, "Dockerfile")) as f:
            dockerfile = f.read()
        self.assertIn('ENTRYPOINT ["keras-dae-serve"]', dockerfile)
        self.assertIn("--runtime=litert", container["args"])


if __name__ == "__main__":
    absltest.main()
