build-dev/obj/lib/svc/milter_negotiate.o: lib/svc/milter_negotiate.c \
 lib/svc/milter_int.h lib/svc/milter.h lib/base/buf.h \
 lib/proto/milterproto.h lib/sys/conf.h lib/base/mem.h \
 lib/base/timeutil.h lib/sys/log.h
lib/svc/milter_int.h:
lib/svc/milter.h:
lib/base/buf.h:
lib/proto/milterproto.h:
lib/sys/conf.h:
lib/base/mem.h:
lib/base/timeutil.h:
lib/sys/log.h:
