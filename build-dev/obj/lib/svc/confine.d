build-dev/obj/lib/svc/confine.o: lib/svc/confine.c lib/svc/confine.h \
 sandbox/sandbox.h lib/sys/conf.h lib/svc/milter.h lib/base/buf.h \
 lib/proto/milterproto.h lib/sys/log.h
lib/svc/confine.h:
sandbox/sandbox.h:
lib/sys/conf.h:
lib/svc/milter.h:
lib/base/buf.h:
lib/proto/milterproto.h:
lib/sys/log.h:
