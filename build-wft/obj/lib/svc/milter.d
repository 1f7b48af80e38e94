build-wft/obj/lib/svc/milter.o: lib/svc/milter.c lib/svc/milter.h \
 lib/base/buf.h lib/sys/conf.h lib/sys/log.h lib/base/mem.h \
 lib/base/timeutil.h
lib/svc/milter.h:
lib/base/buf.h:
lib/sys/conf.h:
lib/sys/log.h:
lib/base/mem.h:
lib/base/timeutil.h:
