#!/usr/bin/env python3
"""Checks a running xinfang with a gRPC client that is not ours (Python grpcio).

    pip install -r tests/requirements.txt         # or: scripts/test, then target/test-env/venv/bin/python
    python3 deploy/smoke_check.py 127.0.0.1:50051 --token "$(cat <data-dir>/admin-token)"
    python3 deploy/smoke_check.py xinfang.example:443 --ca ca.pem --token ...            # TLS
    python3 deploy/smoke_check.py xinfang.example:443 --ca ca.pem --cert a.pem --key a.key  # mTLS agency
    python3 deploy/smoke_check.py xinfang.example:443 --ca ca.pem --expect UNAUTHENTICATED

It asks the health service (must be SERVING), lists the services through reflection (must include the
xinfang.v1 services), then builds ListOrgUnits from the descriptors that reflection returns and calls it
with the token or client certificate given: nothing of xinfang's own code is involved. The call must
succeed with at least one unit, or fail with the status named by --expect. Exit status 0 when every check
holds, 1 otherwise; one line per check.
"""
import argparse
import sys

try:
    import grpc
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
except ImportError as e:
    sys.exit(f"smoke_check.py needs Python's grpcio ({e}): pip install -r tests/requirements.txt")

SERVICES = {"xinfang.v1.OrgService", "xinfang.v1.VisitService", "xinfang.v1.CaseService",
            "xinfang.v1.FundService", "xinfang.v1.MetricsService", "xinfang.v1.SyncService"}


def channel(args):
    if not args.ca:
        return grpc.insecure_channel(args.address)
    read = lambda path: open(path, "rb").read()
    creds = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca),
        private_key=read(args.key) if args.key else None,
        certificate_chain=read(args.cert) if args.cert else None,
    )
    options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
    return grpc.secure_channel(args.address, creds, options)


def reflect(stub, **request):
    return next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(**request)])))


def message_classes(stub, symbol, names):
    """The message classes `names`, built from the file that defines `symbol` and its imports."""
    files, wanted = {}, [("file_containing_symbol", symbol)]
    while wanted:
        kind, value = wanted.pop()
        for raw in reflect(stub, **{kind: value}).file_descriptor_response.file_descriptor_proto:
            f = descriptor_pb2.FileDescriptorProto.FromString(raw)
            if f.name not in files:
                files[f.name] = f
                wanted += [("file_by_filename", d) for d in f.dependency if d not in files]
    pool, added = descriptor_pool.DescriptorPool(), set()

    def add(f):
        if f.name in added:
            return
        for d in f.dependency:
            add(files[d])
        pool.Add(f)
        added.add(f.name)

    for f in files.values():
        add(f)
    return [message_factory.GetMessageClass(pool.FindMessageTypeByName(n)) for n in names]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("address")
    p.add_argument("--token")
    p.add_argument("--ca", help="CA file: use TLS and verify the server against it")
    p.add_argument("--cert", help="client certificate (mTLS)")
    p.add_argument("--key", help="client key (mTLS)")
    p.add_argument("--server-name", help="name to verify in the server certificate")
    p.add_argument("--expect", default="OK", help="status ListOrgUnits must end with (default OK)")
    args = p.parse_args()

    failures = 0

    def check(name, ok, detail):
        nonlocal failures
        failures += not ok
        print(f"{'ok' if ok else 'FAILED'}: {name}: {detail}")

    ch = channel(args)
    status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10).status
    check("health", status == health_pb2.HealthCheckResponse.SERVING,
          health_pb2.HealthCheckResponse.ServingStatus.Name(status))

    stub = reflection_pb2_grpc.ServerReflectionStub(ch)
    listed = {s.name for s in reflect(stub, list_services="").list_services_response.service}
    check("reflection", SERVICES <= listed, sorted(listed))

    Req, Resp = message_classes(stub, "xinfang.v1.OrgService",
                                ["xinfang.v1.ListOrgUnitsRequest", "xinfang.v1.ListOrgUnitsResponse"])
    call = ch.unary_unary("/xinfang.v1.OrgService/ListOrgUnits",
                          request_serializer=Req.SerializeToString, response_deserializer=Resp.FromString)
    metadata = [("authorization", "Bearer " + args.token)] if args.token else []
    try:
        r = call(Req(page_size=3), metadata=metadata, timeout=10)
        got, detail = "OK", [(u.code, u.name) for u in r.org_units]
        if args.expect == "OK" and not r.org_units:
            got = "OK but no units"
    except grpc.RpcError as e:
        got, detail = e.code().name, e.details()
    check("ListOrgUnits", got == args.expect, f"{got} {detail}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
