"""The server's SQLAlchemy model of `plugins` (seed plan + contracts/database.md).

Usage: python sqlalchemy_model.py DB_PATH read
       python sqlalchemy_model.py DB_PATH write NAME SOURCE VERSION

`read` loads every row through the model and prints them as JSON; `write` adds a PENDING
PyPI plugin the way the server's CRUD route would.
"""

import json
import sys
import uuid
from datetime import datetime
from enum import Enum

from sqlalchemy import DateTime, String, Text, create_engine, select
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class UUIDTimestampMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=datetime.utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=datetime.utcnow, onupdate=datetime.utcnow)


class PluginSourceType(str, Enum):
    PYPI = "pypi"
    GIT = "git"


class PluginInstallStatus(str, Enum):
    UNINSTALLED = "uninstalled"
    PENDING = "pending"
    INSTALLED = "installed"
    FAILED = "failed"


class Plugin(Base, UUIDTimestampMixin):
    __tablename__ = "plugins"

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    source_type: Mapped[PluginSourceType] = mapped_column(SAEnum(PluginSourceType), nullable=False)
    installed_version: Mapped[str | None] = mapped_column(String(50), nullable=True)
    updated_version: Mapped[str | None] = mapped_column(String(50), nullable=True)
    install_status: Mapped[PluginInstallStatus] = mapped_column(
        SAEnum(PluginInstallStatus), default=PluginInstallStatus.PENDING
    )
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)


def main() -> None:
    db, action = sys.argv[1], sys.argv[2]
    engine = create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        if action == "write":
            name, source, version = sys.argv[3:6]
            session.add(Plugin(name=name, source=source, source_type=PluginSourceType.PYPI,
                               updated_version=version))
            session.commit()
        rows = session.scalars(select(Plugin).order_by(Plugin.created_at)).all()
        print(json.dumps([
            {
                "id": row.id.hex,
                "name": row.name,
                "source": row.source,
                "source_type": row.source_type.name,
                "install_status": row.install_status.name,
                "installed_version": row.installed_version,
                "updated_version": row.updated_version,
                "error_message": row.error_message,
                "created_at": row.created_at.isoformat(sep=" "),
                "updated_at": row.updated_at.isoformat(sep=" "),
            }
            for row in rows
        ]))


if __name__ == "__main__":
    main()
