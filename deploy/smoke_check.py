#!/usr/bin/env python3
"""Checks a running xinfang with a gRPC client that is not ours (Python grpcio).

    pip install grpcio grpcio-health-checking grpcio-reflection
    python3 deploy/smoke_check.py 127.0.0.1:50051 "$(cat <data-dir>/admin-token)"

It asks the health service, lists the services through reflection, then builds ListOrgUnits from the
descriptors that reflection returns and calls it with the token: nothing of xinfang's own code is involved.
"""
import sys, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
addr, token = sys.argv[1], sys.argv[2]
ch = grpc.insecure_channel(addr)
print("health:", health_pb2.HealthCheckResponse.ServingStatus.Name(health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest()).status))
stub = reflection_pb2_grpc.ServerReflectionStub(ch)
resp = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
print("services:", [s.name for s in resp.list_services_response.service])
# build ListOrgUnits dynamically from reflection
resp = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol="xinfang.v1.OrgService")])))
pool = descriptor_pool.DescriptorPool()
fds = [descriptor_pb2.FileDescriptorProto.FromString(b) for b in resp.file_descriptor_response.file_descriptor_proto]
for dep in list(fds[0].dependency):
    r2 = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(file_by_filename=dep)])))
    fds += [descriptor_pb2.FileDescriptorProto.FromString(b) for b in r2.file_descriptor_response.file_descriptor_proto]
added=set()
def add(f):
    if f.name in added: return
    for d in f.dependency:
        for g in fds:
            if g.name==d: add(g)
    try: pool.Add(f)
    except Exception as e: pass
    added.add(f.name)
for f in fds: add(f)
Req = message_factory.GetMessageClass(pool.FindMessageTypeByName("xinfang.v1.ListOrgUnitsRequest"))
Resp = message_factory.GetMessageClass(pool.FindMessageTypeByName("xinfang.v1.ListOrgUnitsResponse"))
call = ch.unary_unary("/xinfang.v1.OrgService/ListOrgUnits", request_serializer=Req.SerializeToString, response_deserializer=Resp.FromString)
r = call(Req(page_size=3, kind=3), metadata=[("authorization", "Bearer "+token)])
print("org units:", [(u.code, u.name) for u in r.org_units], "next:", bool(r.next_page_token))
