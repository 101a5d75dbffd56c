#!/usr/bin/env python3
"""A client from another ecosystem: Python grpcio against df11d.

    python_client.py STUBS_DIR HOST:PORT EXPECTED_JSON XML_REPORT

STUBS_DIR holds the modules grpcio-tools generated from
proto/df11/v1/inference.proto and tests/serve/health.proto. EXPECTED_JSON
is `df11 run --json` for the prompt below (the offline engine's tokens).
Each check is a unittest case; the report is JUnit XML, one testcase each,
as launch/count_tests.py counts them.
"""
import json
import sys
import time
import unittest
import xml.sax.saxutils

import grpc

STUBS, ADDRESS, EXPECTED, REPORT = sys.argv[1:5]
sys.path.insert(0, STUBS)

from proto.df11.v1 import inference_pb2 as pb  # noqa: E402
from proto.df11.v1 import inference_pb2_grpc as pb_grpc  # noqa: E402
from tests.serve import health_pb2, health_pb2_grpc  # noqa: E402

PROMPT = [1, 2, 3, 4, 5]
MAX_NEW = 12
TIMEOUT = 60


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.channel = grpc.insecure_channel(ADDRESS)
        cls.stub = pb_grpc.InferenceServiceStub(cls.channel)
        # The port is open while the model loads (NOT_SERVING).
        health = health_pb2_grpc.HealthStub(cls.channel)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(),
                                     timeout=5)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                pass
            time.sleep(0.05)
        with open(EXPECTED) as f:
            cls.expected = json.load(f)["tokens"]

    def test_health_is_serving(self):
        health = health_pb2_grpc.HealthStub(self.channel)
        reply = health.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
        self.assertEqual(reply.status,
                         health_pb2.HealthCheckResponse.SERVING)

    def test_model_info(self):
        info = self.stub.GetModelInfo(pb.GetModelInfoRequest(),
                                      timeout=TIMEOUT)
        self.assertEqual(info.architecture, "LlamaForCausalLM")
        self.assertEqual(info.dtype, "df11")
        self.assertEqual(info.tp, 2)
        self.assertEqual(info.backend, "cpu")
        self.assertGreater(info.vocab_size, 0)
        self.assertLess(info.compressed_weight_bytes,
                        info.original_weight_bytes)

    def test_streamed_generate_equals_offline_run(self):
        request = pb.GenerateRequest(
            token_ids=PROMPT,
            sampling=pb.SamplingParams(max_new_tokens=MAX_NEW,
                                       temperature=0.8, top_k=40, seed=3,
                                       logprobs=2))
        tokens, last, messages = [], None, 0
        for message in self.stub.Generate(request, timeout=TIMEOUT):
            messages += 1
            tokens.extend(message.token_ids)
            self.assertEqual(len(message.logprobs), len(message.token_ids))
            last = message
        self.assertEqual(tokens, self.expected)
        self.assertGreaterEqual(messages, 1)
        self.assertIn(last.finish_reason, (pb.EOS, pb.LENGTH))
        self.assertEqual(last.usage.prompt_tokens, len(PROMPT))
        self.assertEqual(last.usage.completion_tokens, len(tokens))
        self.assertTrue(last.request_id)

    def test_forward_top_logprobs(self):
        reply = self.stub.Forward(
            pb.ForwardRequest(token_ids=PROMPT, all_positions=True,
                              top_logprobs=3), timeout=TIMEOUT)
        self.assertEqual(reply.positions, len(PROMPT))
        self.assertEqual(len(reply.logits), 0)
        self.assertEqual(len(reply.top), len(PROMPT))
        for position in reply.top:
            probs = [t.logprob for t in position.top]
            self.assertEqual(len(probs), 3)
            self.assertEqual(probs, sorted(probs, reverse=True))

    def test_bad_request_is_invalid_argument(self):
        request = pb.GenerateRequest(
            token_ids=PROMPT, text="both",
            sampling=pb.SamplingParams(max_new_tokens=2))
        with self.assertRaises(grpc.RpcError) as caught:
            list(self.stub.Generate(request, timeout=TIMEOUT))
        self.assertEqual(caught.exception.code(),
                         grpc.StatusCode.INVALID_ARGUMENT)


def main():
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(
        PythonClientTest)
    ids = [test.id() for test in suite]  # the suite lets go of them as run
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = {t.id(): e for t, e in result.failures + result.errors}
    with open(REPORT, "w") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>'
                  '<testsuite name="PythonClientTest">\n')
        for test_id in ids:
            name = test_id.rsplit(".", 1)[-1]
            out.write(f'<testcase classname="PythonClientTest" '
                      f'name="{name}">')
            if test_id in failed:
                message = xml.sax.saxutils.quoteattr(failed[test_id][-500:])
                out.write(f"<failure message={message}/>")
            out.write("</testcase>\n")
        out.write("</testsuite></testsuites>\n")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
