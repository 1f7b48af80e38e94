build-wft/obj/lib/sys/tls.o: lib/sys/tls.c lib/sys/tls.h
lib/sys/tls.h:
