# SIPp (Debian's sip-tester, 3.6.1 on bookworm) for the compose stack: the "switch" behind callgate, and the
# optional "caller". The scenarios are not baked in: compose mounts ../sipp-scenarios on /scenarios.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends sip-tester \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /sipp --shell /usr/sbin/nologin sipp
# Traces (-trace_*) land in the working directory.
WORKDIR /sipp
USER sipp
ENTRYPOINT ["sipp"]
CMD ["-sf", "/scenarios/uas-answer.xml", "-p", "5060", "-nostdin"]
